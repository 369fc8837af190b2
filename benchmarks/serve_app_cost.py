"""Benchmark: the Python cost of one hybrid GET inside a `pymk serve` worker, without the HTTP server.

    .venv/bin/python benchmarks/serve_app_cost.py [--users 50000] [--requests 20000] [--rounds 5] [--json OUT]

Builds the worker's app exactly as granian does (``pymk.serving.http.app_from_env`` on a home of
``--users`` synthetic precomputed lists of 50, written through the real embedded store) and calls it in a
loop on one event loop with a Zipf(1.1) mix of ``GET /v1/users/{id}/recommendations?k=20`` scopes, so
the figure is the app's own work per request (routing, list lookup, fresh-state filter, rendering,
metrics, sampled access log) — what the app adds to the server's per-request cost, which
``serve_load.py`` measures end to end. Prints µs per request per round and their median; writes
``benchmarks/out/serve_app_cost.json``. Sanity check: every answer is a 200 with a body.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from serve_load import synthetic_home, zipf_users

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=20_000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, default=HERE / "out" / "serve_app_cost.json")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="pymk-app-cost-")) / "home"
    ids = synthetic_home(home, args.users, 50)
    os.environ["PYMK_HOME"] = str(home)
    from pymk.serving.http import app_from_env

    app = app_from_env()
    scopes = [
        {
            "type": "http",
            "method": "GET",
            "path": f"/v1/users/{u}/recommendations",
            "raw_path": f"/v1/users/{u}/recommendations".encode(),
            "query_string": b"k=20",
            "headers": [(b"host", b"127.0.0.1"), (b"user-agent", b"bench")],
        }
        for u in zipf_users(ids, 20_000, 1.1)
    ]
    statuses: list[int] = []
    bodies = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal bodies
        if message["type"] == "http.response.start":
            statuses.append(message["status"])
        elif message.get("body"):
            bodies += 1

    async def run(n: int) -> float:
        started = time.perf_counter()
        for i in range(n):
            await app(scopes[i % len(scopes)], receive, send)
        return (time.perf_counter() - started) / n * 1e6

    loop = asyncio.new_event_loop()
    loop.run_until_complete(run(2_000))  # warm-up
    rounds = [loop.run_until_complete(run(args.requests)) for _ in range(args.rounds)]
    if set(statuses) != {200} or bodies != len(statuses):
        raise SystemExit(f"unexpected answers: statuses {sorted(set(statuses))}, {bodies} bodies")
    median = statistics.median(rounds)
    print(f"us per GET, {args.rounds} rounds of {args.requests}: {', '.join(f'{r:.2f}' for r in rounds)}")
    print(f"median {median:.2f} us per GET ({args.users} users)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    summary = {"users": args.users, "us_per_get": rounds, "median_us": median}
    args.json.write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
