"""Benchmark: ``pymk worker`` throughput on a backlog and freshness on a live stream.

    .venv/bin/python benchmarks/worker_freshness.py [--users 5000] [--source file|redis]
        [--online memory|redis] [--batch 5000] [--rate 2000] [--seconds 20]
        [--redis redis://127.0.0.1:6379/0] [--out JSON]

Backlog: the simulator's events for ``--users`` users are published to a fresh stream first, then one
worker (in process, a fresh PYMK_HOME) consumes them to the end: records/s over validation, dedupe,
online store, Parquet event log, graph and acks. Live: ``pymk simulate --live``'s publisher runs at
``--rate`` events/s for ``--seconds`` in a thread (events stamped with the publishing time) while the
worker consumes; freshness is apply time minus event time, the worst event of each batch, reported as
p50/p99/max over batches. Results go to ``benchmarks/out/worker_freshness.json``; Redis keys are written
under a fresh ``pymk-bench:`` prefix and deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

from pymk.events.deadletter import MemoryDeadLetterStore
from pymk.events.dedupe import MemorySeenEvents
from pymk.online import open_online
from pymk.sim import SimConfig, simulate
from pymk.stream import open_sink, open_source
from pymk.stream.live import publish_live
from pymk.stream.worker import Worker, WorkerReport

HERE = Path(__file__).resolve().parent


def _urls(args: argparse.Namespace, tmp: Path, prefix: str, name: str) -> tuple[str, str]:
    events = f"file://{tmp / name}.jsonl" if args.source == "file" else f"{args.redis}?stream={prefix}{name}"
    online = "memory://" if args.online == "memory" else f"{args.redis}?prefix={prefix}{name}:"
    return events, online


def _worker(events_url: str, online_url: str, home: Path, batch: int) -> Worker:
    return Worker(
        open_source(events_url),
        home,
        seen=MemorySeenEvents(),
        deadletters=MemoryDeadLetterStore(),
        online=open_online(online_url),
        source_name=events_url,
        batch_size=batch,
        poll_s=0.05,
    )


def backlog(args: argparse.Namespace, tmp: Path, prefix: str) -> dict[str, Any]:
    result = simulate(SimConfig(users=args.users, seed=1))
    events_url, online_url = _urls(args, tmp, prefix, "backlog")
    sink = open_sink(events_url)
    publish_live(sink, result.iter_tables(), rate=1e9, stamp_now=False)
    sink.close()
    worker = _worker(events_url, online_url, tmp / "home-backlog", args.batch)
    report = worker.run(idle_exit=1.0)
    worker.source.close()
    busy = report.seconds - 1.0  # the idle wait at the end
    return {"events": report.records, "seconds": round(busy, 2), "events_per_s": round(report.records / busy)}


def live(args: argparse.Namespace, tmp: Path, prefix: str) -> dict[str, Any]:
    result = simulate(SimConfig(users=args.users, seed=2))
    events_url, online_url = _urls(args, tmp, prefix, "live")
    sink = open_sink(events_url)
    publisher = threading.Thread(
        target=publish_live,
        args=(sink, result.iter_tables()),
        kwargs={"rate": args.rate, "duration": args.seconds},
    )
    worker = _worker(events_url, online_url, tmp / "home-live", args.batch)
    publisher.start()
    report: WorkerReport = worker.run(idle_exit=1.0)
    publisher.join()
    sink.close()
    worker.source.close()
    fresh = sorted(report.freshness_s)
    return {
        "rate": args.rate,
        "events": report.records,
        "batches": report.batches,
        "freshness_p50_s": round(fresh[len(fresh) // 2], 4),
        "freshness_p99_s": round(fresh[min(int(0.99 * len(fresh)), len(fresh) - 1)], 4),
        "freshness_max_s": round(fresh[-1], 4),
        "lag_at_end": report.lag,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--source", choices=["file", "redis"], default="file")
    parser.add_argument("--online", choices=["memory", "redis"], default="memory")
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "worker_freshness.json")
    args = parser.parse_args()
    prefix = f"pymk-bench:{uuid.uuid4().hex[:8]}:"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = {
                "machine": platform.platform(),
                "source": args.source,
                "online": args.online,
                "batch": args.batch,
                "backlog": backlog(args, Path(tmp), prefix),
                "live": live(args, Path(tmp), prefix),
            }
    finally:
        if "redis" in (args.source, args.online):
            import redis

            client = redis.Redis.from_url(args.redis)
            keys = list(client.scan_iter(match=prefix + "*"))
            if keys:
                client.delete(*keys)
    print(json.dumps(out, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
