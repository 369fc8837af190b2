"""Benchmark: what the metrics, request ids and request log cost on the serving hot path, in process.

    .venv/bin/python benchmarks/metrics_overhead.py [--requests 100000] [--chunk 5000] [--k 20]

Times ``--requests`` back-to-back ``GET /v1/users/{id}/recommendations?k=20`` calls of a precomputed
list (mmap store, 2,000 users) through two ASGI apps in one event loop, no sockets:

- **plain**: the request path as it was before monitoring (commit 956446f: route coroutine, method
  check, ``service.one_json``, error handler, two sends);
- **instrumented**: :func:`pymk.serving.http.create_app` as served — request id, timing, the
  :class:`~pymk.monitoring.recorder.RequestRecorder` counts, 1% sampled JSON log line (to a null handler)
  — once in single-process mode and once in multiprocess mode (values in memory-mapped files, as under
  ``pymk serve``);
- **metrics-off**: the same app with ``metrics_enabled=False`` (ids and sampled log, no metrics), so
  ``multiprocess`` / ``metrics-off`` is what the metrics alone cost.

Each variant serves ``--requests`` in chunks of ``--chunk``, the variants' chunks interleaved so load
from other processes hits them alike; prints the best and the median chunk (µs per request), the ratios
instrumented / plain and the throughput lost, plus, for comparison, what a direct prometheus-client
histogram observe + counter inc per request costs in multiprocess mode (the design
:mod:`pymk.monitoring.recorder` avoids). Only the Python request path is timed; the server's own share
of a request (granian, sockets) is not, so the overhead of a served request is smaller than this ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
import orjson

from pymk.errors import NotFound, PymkError
from pymk.monitoring.logs import ACCESS_LOGGER, AccessLog
from pymk.monitoring.metrics import ServeMetrics, join_multiprocess_dir
from pymk.serving.batch import precompute
from pymk.serving.http import _JSON, _RECS, _USERS, MethodNotAllowed, _k, create_app
from pymk.serving.lists_mmap import MmapListStore
from pymk.serving.recommender import TopK
from pymk.serving.service import RecommendationService

USERS = 2000


class _Fake:
    """Lists of ``k`` neighbours by id (the model does not matter: the stored bytes are served)."""

    model_version = "v0001-bench"
    reason_names = ("mutual_connections",)

    def recommend(self, users: np.ndarray, k: int) -> TopK:
        items = ((users[:, None] + 1 + np.arange(k)[None, :]) % USERS).astype(np.int32)
        scores = np.broadcast_to(np.linspace(1, 0, k, dtype=np.float32), items.shape).copy()
        reasons = np.ones((len(users), k, 1), dtype=np.float32)
        return TopK(items, scores, reasons, self.reason_names)


def plain_app(service: RecommendationService) -> Any:
    """The request path of :func:`create_app` before issue 6 (commit 956446f), GET branch verbatim."""
    headers = [_JSON]

    async def route(scope: dict[str, Any], receive: Any) -> tuple[int, bytes]:
        path: str = scope["path"]
        method: str = scope["method"]
        if path.startswith(_USERS) and path.endswith(_RECS):
            if method != "GET":
                raise MethodNotAllowed(f"{method} not allowed on {path}")
            raw = scope.get("raw_path") or path.encode()
            user_id = unquote(raw.split(b"?", 1)[0][len(_USERS) : -len(_RECS)].decode("utf-8", "replace"))
            return 200, service.one_json(user_id, _k(scope["query_string"]))
        raise NotFound(f"no route {path}")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        try:
            status, body = await route(scope, receive)
        except PymkError as exc:
            status, body = exc.http_status, orjson.dumps(exc.to_dict())
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def _scopes(k: int) -> list[dict[str, Any]]:
    return [
        {
            "type": "http",
            "method": "GET",
            "path": f"/v1/users/u{i}/recommendations",
            "raw_path": f"/v1/users/u{i}/recommendations".encode(),
            "query_string": f"k={k}".encode(),
            "headers": [(b"host", b"localhost"), (b"user-agent", b"bench"), (b"accept", b"*/*")],
        }
        for i in range(USERS)
    ]


async def _drive(app: Any, scopes: list[dict[str, Any]], n: int) -> float:
    """CPU µs per request of ``n`` back-to-back requests."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    started = time.process_time()  # CPU time of this process: other processes' load does not count
    for i in range(n):
        await app(scopes[i % USERS], receive, send)
    return (time.process_time() - started) / n * 1e6


def compare(apps: dict[str, Any], requests: int, chunk: int, k: int) -> dict[str, list[float]]:
    """µs per request of each app, per chunk of ``chunk`` requests, the apps' chunks interleaved (so a
    busy moment of the machine hits them alike) until each served ``requests``."""
    scopes = _scopes(k)
    times: dict[str, list[float]] = {name: [] for name in apps}

    async def run() -> None:
        for _ in range(max(requests // chunk, 1)):
            for name, app in apps.items():
                times[name].append(await _drive(app, scopes, chunk))

    asyncio.run(run())
    return times


def direct_cost(n: int) -> float:
    """µs of one cached-child histogram observe + counter inc (whatever mode this process is in)."""
    m = ServeMetrics()
    hist = m.latency.labels("recommendations", "precomputed")
    count = m.requests.labels("recommendations", "200")
    started = time.perf_counter()
    for _ in range(n):
        hist.observe(0.003)
        count.inc()
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=100_000, help="Requests per variant.")
    parser.add_argument("--chunk", type=int, default=5_000, help="Requests per timed chunk.")
    parser.add_argument("--k", type=int, default=20)
    args = parser.parse_args()
    access = logging.getLogger(ACCESS_LOGGER)
    access.addHandler(logging.NullHandler())
    access.setLevel(logging.INFO)
    access.propagate = False
    with tempfile.TemporaryDirectory() as tmp:
        store = MmapListStore(Path(tmp) / "lists")
        ids = [f"u{i}" for i in range(USERS)]
        precompute(_Fake(), store, ids, k=50, batch_size=500, clock=time.time)  # type: ignore[arg-type]
        service = RecommendationService(store, refresh_s=3600.0)
        apps = {"plain": plain_app(service), "single-process": create_app(service, access=AccessLog(0.01))}
        direct = {"single-process": direct_cost(args.requests)}
        mp_dir = Path(tmp) / "metrics"
        mp_dir.mkdir()
        join_multiprocess_dir(mp_dir)  # families built from here on write memory-mapped files
        apps["multiprocess"] = create_app(service, access=AccessLog(0.01))
        apps["metrics-off"] = create_app(service, access=AccessLog(0.01), metrics_enabled=False)
        direct["multiprocess"] = direct_cost(args.requests)
        times = compare(apps, args.requests, args.chunk, args.k)
        service.close()
    base_min, base_med = min(times["plain"]), float(np.median(times["plain"]))
    print(f"{args.requests:,} requests per variant in chunks of {args.chunk:,}, interleaved; k={args.k}")
    print(f"{'variant':16s} {'best us/req':>11s} {'median':>8s} {'ratio best':>10s} {'ratio median':>12s}")
    for name, t in times.items():
        best, med = min(t), float(np.median(t))
        print(f"{name:16s} {best:11.2f} {med:8.2f} {best / base_min:10.3f} {med / base_med:12.3f}")
    for name in ("single-process", "multiprocess"):
        lost = (1 - base_min / min(times[name])) * 100
        print(f"instrumented {name}: throughput -{lost:.1f}% (best chunks)")
    off_min, off_med = min(times["metrics-off"]), float(np.median(times["metrics-off"]))
    print(
        f"metrics alone (multiprocess vs metrics-off): {min(times['multiprocess']) - off_min:.2f} us per "
        f"request best, {float(np.median(times['multiprocess'])) - off_med:.2f} us median"
    )
    print(
        "for comparison, a direct histogram observe + counter inc per request: "
        f"{direct['single-process']:.2f} us single-process, {direct['multiprocess']:.2f} us multiprocess "
        f"(= {direct['multiprocess'] / base_min:.1%} of the plain path)"
    )


if __name__ == "__main__":
    main()
