"""Benchmark: load on `pymk serve` (single GET, batch POST, gRPC) with a same-run nginx static-file baseline.

    .venv/bin/python benchmarks/serve_load.py [--duration 10] [--connections 64] [--workers 2]
        [--users 50000] [--list-k 50] [--k 20] [--batch 100] [--zipf 1.1] [--scenarios get,batch,grpc]
        [--home DIR] [--mode hybrid|realtime|precomputed] [--no-nginx] [--json OUT]

Serves precomputed lists: those of ``--home`` (what ``pymk batch`` wrote), or synthetic ones for
``--users`` users of width ``--list-k``, written through the real store. Starts ``pymk serve`` on free
loopback ports and loads it with wrk (``apt-get install wrk nginx``; a Lua script draws user ids from a
Zipf(``--zipf``) mix over the users) or, without wrk, a slower Python generator. gRPC is loaded by a
Python client (threads), so its figure is bounded by the client. The baseline is nginx serving a file
the size of one GET response with the same wrk settings in the same run, so ``ratio`` is comparable
across machines. Reports requests/s, predictions/s (items returned) and p50/p99/p99.9 latency in ms.
Every request goes to 127.0.0.1 and each scenario stops after ``--duration`` seconds. ``--mode`` sets
``PYMK_SERVING_MODE``: ``realtime`` measures the model on every request (``--home`` trained with
``pymk train``; answers past the 50 ms budget come from the lists and say ``source: precomputed``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from load_tools import free_port, grpc_load, nginx_baseline, python_load, wait_ready, wrk_load
from pymk.events.ids import IdMap
from pymk.serving.batch import precompute
from pymk.serving.lists_mmap import MmapListStore
from pymk.serving.recommender import TopK


class RandomRecommender:
    """Synthetic lists: random distinct-ish candidates, falling scores, a mutual-connections reason."""

    model_version = "bench-synthetic"

    def __init__(self, users: int, seed: int = 0) -> None:
        self.users, self.rng = users, np.random.default_rng(seed)

    def recommend(self, users: np.ndarray, k: int) -> TopK:
        b = len(users)
        items = ((users[:, None] + 1 + self.rng.integers(0, self.users - 1, (b, k))) % self.users).astype(
            np.int32
        )
        scores = np.sort(self.rng.random((b, k), dtype=np.float32), axis=1)[:, ::-1].copy()
        reasons = self.rng.integers(0, 40, (b, k, 1)).astype(np.float32)
        return TopK(items, scores, reasons, ("mutual_connections",))


def synthetic_home(home: Path, users: int, k: int) -> list[str]:
    """Write synthetic lists under ``home/lists``; the user ids served."""
    ids = [f"u{i}" for i in range(users)]
    t0 = time.perf_counter()
    precompute(RandomRecommender(users), MmapListStore(home / "lists"), ids, k=k, batch_size=4096)
    print(f"wrote {users} synthetic lists of {k} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return ids


def zipf_users(ids: list[str], n: int, s: float, seed: int = 1) -> list[str]:
    """``n`` ids drawn with P(rank r) ~ 1/r^s over a random popularity order of ``ids``."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, len(ids) + 1) ** s
    order = rng.permutation(len(ids))
    draws = order[rng.choice(len(ids), size=n, p=weights / weights.sum())]
    return [ids[i] for i in draws.tolist()]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="pymk serve HTTP workers (and nginx workers)")
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--list-k", type=int, default=50, help="stored list width (synthetic lists)")
    parser.add_argument("--k", type=int, default=20, help="k asked for per user")
    parser.add_argument("--batch", type=int, default=100, help="users per batch POST")
    parser.add_argument("--zipf", type=float, default=1.1)
    parser.add_argument("--scenarios", default="get,batch,grpc")
    parser.add_argument("--home", type=Path, help="serve the lists already in this PYMK_HOME")
    parser.add_argument(
        "--mode",
        choices=("hybrid", "realtime", "precomputed"),
        default="hybrid",
        help="PYMK_SERVING_MODE of the server (realtime needs a trained --home)",
    )
    parser.add_argument("--no-nginx", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pymk-serve-load-"))
    home = args.home or work / "home"
    if args.home:
        current = home / "lists" / "CURRENT"
        if not current.exists():
            raise SystemExit(f"no lists under {home}/lists: run pymk batch first")
        id_map = IdMap.load(home / "lists" / current.read_text().strip() / "ids.arrow")
        ids = id_map.decode(np.arange(len(id_map)))
    else:
        ids = synthetic_home(home, args.users, args.list_k)
    picks = zipf_users(ids, 20_000, args.zipf)
    http, grpc_port = free_port(), free_port()
    env = {**os.environ, "PYMK_HOME": str(home), "PYMK_SERVING_MODE": args.mode}
    command = [sys.executable, "-c", "from pymk.cli import main; main()", "serve", "--port", str(http)]
    command += ["--grpc-port", str(grpc_port), "--workers", str(args.workers)]
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=open(work / "server.err", "w")
    )
    base = f"http://127.0.0.1:{http}"
    results: dict[str, Any] = {}
    use_wrk = shutil.which("wrk") is not None
    try:
        # A trained --home loads its model in every worker: wait until each one answers.
        wait_ready(f"{base}/readyz", server, timeout=900, workers=args.workers)
        from urllib.parse import quote

        gets = [f"/v1/users/{quote(u, safe='')}/recommendations?k={args.k}" for u in picks]
        scenarios = args.scenarios.split(",")
        if "get" in scenarios:
            load = wrk_load if use_wrk else python_load
            results["get"] = load(base, gets, None, args.duration, args.connections, args.threads, work)
            results["get"]["predictions_per_s"] = results["get"]["requests_per_s"] * args.k
        if "batch" in scenarios:
            bodies = [
                json.dumps({"user_ids": picks[i : i + args.batch], "k": args.k})
                for i in range(0, len(picks) - args.batch, args.batch)
            ]
            load = wrk_load if use_wrk else python_load
            path = ["/v1/recommendations:batch"] * len(bodies)
            results["batch"] = load(base, path, bodies, args.duration, args.connections, args.threads, work)
            results["batch"]["predictions_per_s"] = results["batch"]["requests_per_s"] * args.batch * args.k
        if "grpc" in scenarios:
            results["grpc"] = grpc_load(f"127.0.0.1:{grpc_port}", picks, args.k, args.duration, 16)
            results["grpc"]["predictions_per_s"] = results["grpc"]["requests_per_s"] * args.k
        with urllib.request.urlopen(base + gets[0], timeout=5) as response:
            sample = response.read()
    finally:
        server.terminate()
        server.wait(20)
    if not args.no_nginx and use_wrk and shutil.which("nginx"):
        results["nginx_static"] = nginx_baseline(
            sample, args.duration, args.connections, args.threads, args.workers, work
        )
        for name in ("get", "batch"):
            if name in results:
                results[name]["ratio_to_nginx"] = (
                    results[name]["requests_per_s"] / results["nginx_static"]["requests_per_s"]
                )
    report = {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "load_generator": "wrk" if use_wrk else "python",
        "cpus": os.cpu_count(),
        "results": results,
    }
    print(
        f"{'scenario':<14}{'req/s':>10}{'pred/s':>12}{'p50 ms':>9}{'p99 ms':>9}{'p99.9 ms':>10}{'errors':>8}"
    )
    for name, r in results.items():
        print(
            f"{name:<14}{r['requests_per_s']:>10.0f}{r.get('predictions_per_s', 0):>12.0f}"
            f"{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['p999_ms']:>10.2f}{r['errors']:>8}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
