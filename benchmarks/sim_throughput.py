"""Simulator throughput: events/s and connections/s, CPU seconds and peak RSS, per size.

Each case runs in its own process (so peak RSS is that case's alone): simulate, then write the stream
(Parquet by default; ``--write jsonl.gz`` or ``--write none`` to change). Writes
``benchmarks/out/sim_throughput.json``.

    .venv/bin/python benchmarks/sim_throughput.py                  # 20k users and 1M users / 20M connections
    .venv/bin/python benchmarks/sim_throughput.py --quick          # 20k users only
    .venv/bin/python benchmarks/sim_throughput.py --case 200000:4000000 --write jsonl.gz
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out" / "sim_throughput.json"
CASES = ("20000:default", "1000000:20000000")


def _one(users: int, connections: int | None, write: str) -> dict[str, Any]:
    """Run one case in this process and describe it."""
    from pymk.sim import SimConfig, simulate, write_jsonl, write_parquet

    cfg = SimConfig(users=users, connections=connections)
    load_before = os.getloadavg()[0]
    cpu, wall = time.process_time(), time.perf_counter()
    result = simulate(cfg)
    sim_wall, sim_cpu = time.perf_counter() - wall, time.process_time() - cpu
    run: dict[str, Any] = {
        "users": users,
        "connections": result.connections,
        "events": len(result),
        "events_by_type": {k: v for k, v in result.counts().items() if v},
        "simulate_seconds": round(sim_wall, 2),
        "simulate_cpu_seconds": round(sim_cpu, 2),
        "events_per_second": round(len(result) / sim_wall),
        "connections_per_second": round(result.connections / sim_wall),
    }
    if write != "none":
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"events.{write}"
            cpu, wall = time.process_time(), time.perf_counter()
            (write_parquet if write == "parquet" else write_jsonl)(result, path)
            write_wall = time.perf_counter() - wall
            run.update(
                write_format=write,
                write_seconds=round(write_wall, 2),
                write_cpu_seconds=round(time.process_time() - cpu, 2),
                write_events_per_second=round(len(result) / write_wall),
                bytes=path.stat().st_size,
            )
    run["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    run["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return run


def _case(spec: str, write: str) -> dict[str, Any]:
    """Run ``users:connections`` in a child process and return its JSON."""
    cmd = [sys.executable, __file__, "--child", spec, "--write", write]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _parse(spec: str) -> tuple[int, int | None]:
    users, _, connections = spec.partition(":")
    return int(users), None if connections in ("", "default") else int(connections)


def _show(run: dict[str, Any]) -> None:
    print(
        f"{run['users']:>9,} users {run['connections']:>11,} connections {run['events']:>11,} events: "
        f"simulate {run['simulate_seconds']:7.1f} s (CPU {run['simulate_cpu_seconds']:.1f} s) = "
        f"{run['events_per_second']:>9,} events/s, {run['connections_per_second']:>9,} connections/s; "
        f"peak RSS {run['peak_rss_mib']:,} MiB"
    )
    if "write_format" in run:
        print(
            f"{'':>9} write {run['write_format']}: {run['write_seconds']:.1f} s "
            f"= {run['write_events_per_second']:,} events/s, {run['bytes'] / 2**20:,.0f} MiB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--case", action="append", help="users:connections ('default' = avg degree 20)")
    parser.add_argument("--quick", action="store_true", help="only the 20k-user case")
    parser.add_argument("--write", default="parquet", choices=["parquet", "jsonl", "jsonl.gz", "none"])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_one(*_parse(args.child), args.write)))
        return
    specs = args.case or (CASES[:1] if args.quick else CASES)
    runs = []
    for spec in specs:
        run = _case(spec, args.write)
        _show(run)
        runs.append(run)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine()}
    OUT.write_text(json.dumps({"machine": machine, "runs": runs}, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
