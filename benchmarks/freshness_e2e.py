"""Benchmark: event → visible recommendation, end to end, through real ``pymk worker`` and ``pymk serve``.

    .venv/bin/python benchmarks/freshness_e2e.py [--users 1000] [--events 200] [--follow-ms 50]
        [--redis redis://127.0.0.1:6379/0] [--home DIR] [--out JSON]

Issue 5's "Done when" set-up: a home built by ``pymk import`` (the simulator's network) + ``pymk train``
(a tiny pipeline) + ``pymk batch`` (k=50), then ``pymk serve`` (HTTP, hybrid mode) and ``pymk worker`` as
separate processes, both on one Redis event stream (``PYMK_EVENTS_URL``) and online store
(``PYMK_ONLINE_URL``). For each of ``--events`` pairs of users listed in each other's lists, one
``connect`` is ``XADD``-ed and the clock runs until GETs of both users list neither and A's list holds one
of B's friends (not A's, not listed before: the hybrid path's fresh friends-of-friends) — polled back to
back, one GET ~1 ms: that time is the freshness of the event — worker poll + validate + online-store apply
+ event log + graph write + ack, then the server's delta-log poll (every ``--follow-ms``) — reported as
p50/p99/max. Events are sent one at a time (each waits for the previous one to be visible, then a random
0-100 ms so it does not land in step with the server's poll), so this is the latency of a quiet stream,
not of a backlog (``worker_freshness.py`` measures that). Results go to
``benchmarks/out/freshness_e2e.json``; Redis keys are written under a fresh prefix and deleted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from _freshness import Stack, build_home, friends, get_items, mutual_pairs

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--follow-ms", type=float, default=50.0)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--home", type=Path, help="reuse a home built by an earlier run (under DIR/home)")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "freshness_e2e.json")
    args = parser.parse_args()
    root = args.home or Path(tempfile.mkdtemp(prefix="pymk-fresh-"))
    started = time.perf_counter()
    home = root / "home" if (root / "home" / "lists").exists() else build_home(root, users=args.users, k=50)
    build_s = time.perf_counter() - started
    pairs = mutual_pairs(home, k=50)
    rng = np.random.default_rng(0)
    pairs = [pairs[i] for i in rng.permutation(len(pairs))[: args.events]]
    print(f"home {home} ({build_s:.0f} s), {len(pairs)} mutual pairs to connect", flush=True)
    graph = friends(home)
    stack = Stack(home, redis_url=args.redis, follow_ms=args.follow_ms).start()
    seconds: list[float] = []
    with_fof = 0  # events whose time includes a friend of B appearing in A's list
    try:
        for i, (a, b) in enumerate(pairs):
            time.sleep(float(rng.uniform(0.0, 0.1)))  # off the follower's phase: each event lands anywhere
            new_for_a = graph.get(b, set()) - graph.get(a, set()) - {a} - set(get_items(stack.base, a, 50))
            with_fof += bool(new_for_a)
            seconds.append(stack.connect_and_wait(a, b, k=50, new_for_a=new_for_a))
            if (i + 1) % 50 == 0:
                print(f"{i + 1} events, p50 {np.median(seconds) * 1000:.0f} ms", flush=True)
    finally:
        stack.close()
    ms = np.array(seconds) * 1000
    result = {
        "benchmark": "freshness_e2e",
        "machine": f"{platform.machine()}, {platform.processor() or '?'}, {os.cpu_count()} cores",
        "users": args.users,
        "events": len(seconds),
        "events_with_fof_check": with_fof,
        "follow_ms": args.follow_ms,
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "max_ms": round(float(ms.max()), 1),
        "over_1s": int((ms > 1000).sum()),
    }
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
