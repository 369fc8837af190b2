"""Check at scale: malformed records mixed into valid ones, consumed by ``pymk worker``; counts reconcile.

    .venv/bin/python benchmarks/worker_reconcile.py [--valid 1000000] [--bad 10000] [--batch 5000]

Writes the simulator's first ``--valid`` events with ``--bad`` malformed records at random positions
(bad JSON, unknown types, self edges, bad times, missing fields, ...) to a JSONL stream, runs one worker
(in process, fresh PYMK_HOME, SQLite dead-letter and seen stores, memory online store) to the end, and
checks: every valid event applied once (event log rows = distinct valid ids, no repeats), every bad one
in the dead-letter store with a reason, records = applied + dead-lettered. Prints the figures as JSON
(``benchmarks/out/worker_reconcile.json``); exits 1 when a count does not reconcile.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from pymk.events.deadletter import SqliteDeadLetterStore
from pymk.events.dedupe import SqliteSeenEvents
from pymk.io.eventlog import read_event_log
from pymk.online import MemoryOnlineStore
from pymk.sim import SimConfig, simulate
from pymk.sim.writers import json_lines
from pymk.stream import open_source
from pymk.stream.worker import Worker

HERE = Path(__file__).resolve().parent
BAD = [
    b"not json",
    b'{"event_id": "b%d", "ts": 1, "type": "poke", "actor": "u1", "target": "u2"}',
    b'{"event_id": "b%d", "ts": 1, "type": "like", "actor": "u1", "target": "u1"}',
    b'{"event_id": "b%d", "ts": "soon", "type": "like", "actor": "u1", "target": "u2"}',
    b'{"event_id": "b%d", "type": "like", "actor": "u1", "target": "u2"}',
    b'{"event_id": "b%d", "ts": 1e12, "type": "like", "actor": "u1", "target": "u2"}',
    b'{"event_id": "b%d", "ts": 1, "type": "signup", "actor": "u1", "target": "u2"}',
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--valid", type=int, default=1_000_000)
    parser.add_argument("--bad", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()
    result = simulate(SimConfig(users=max(args.valid // 30, 100), seed=0))
    table = result.to_arrow(0, args.valid)
    rng = random.Random(0)
    slots = sorted(rng.sample(range(table.num_rows + args.bad), args.bad))
    with tempfile.TemporaryDirectory() as tmp:
        path, home = Path(tmp) / "stream.jsonl", Path(tmp) / "home"
        with open(path, "wb") as out:
            lines = iter(json_lines(table).to_pylist())
            bad_at = set(slots)
            for i in range(table.num_rows + args.bad):
                if i in bad_at:
                    template = BAD[i % len(BAD)]
                    out.write((template % i if b"%d" in template else template) + b"\n")
                else:
                    out.write(next(lines).encode())
        seen, letters = SqliteSeenEvents(home / "seen.sqlite"), SqliteDeadLetterStore(home / "dl.sqlite")
        source = open_source(f"file://{path}?follow=0")
        started = time.perf_counter()
        worker = Worker(
            source,
            home,
            seen=seen,
            deadletters=letters,
            online=MemoryOnlineStore(),
            source_name="bench",
            batch_size=args.batch,
            poll_s=0.05,
        )
        report = worker.run(idle_exit=0.5)
        seconds = time.perf_counter() - started - 0.5
        ids = read_event_log(home, ["event_id"]).column("event_id")
        figures = {
            "records": report.records,
            "applied": report.applied,
            "dead_lettered": letters.count(),
            "by_reason": letters.counts_by_reason(),
            "log_rows": len(ids),
            "log_distinct_ids": len(set(ids.to_pylist())),
            "valid": table.num_rows,
            "bad": args.bad,
            "seconds": round(seconds, 1),
            "events_per_s": round(report.records / seconds),
        }
        source.close()
        seen.close()
        letters.close()
    print(json.dumps(figures, indent=1))
    (HERE / "out").mkdir(exist_ok=True)
    (HERE / "out" / "worker_reconcile.json").write_text(json.dumps(figures, indent=1))
    ok = (
        figures["applied"] == figures["log_rows"] == figures["log_distinct_ids"] == table.num_rows
        and figures["dead_lettered"] == args.bad
        and figures["records"] == table.num_rows + args.bad
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
