"""Benchmark: ``pymk worker`` memory and lag under a 10x burst (issue 5: "bounded memory when the stream
outruns the worker").

    .venv/bin/python benchmarks/worker_burst.py [--rate 2000] [--factor 10] [--steady-s 10] [--burst-s 10]
        [--batch 5000] [--online redis|memory] [--redis redis://127.0.0.1:6379/0] [--out JSON]

One ``pymk worker`` process (a fresh ``PYMK_HOME``) consumes a Redis stream (consumer group ``pymk``)
while this script publishes the simulator's events to it: ``--rate`` events/s for ``--steady-s``, then
``--factor`` x that rate for ``--burst-s``, then ``--rate`` again for ``--steady-s``, then nothing until
the worker has caught up (or ``--drain-timeout``). Every 0.1 s it samples the worker's resident memory
(``/proc/PID/status`` VmRSS; psutil when installed), the group's backlog (Redis ``XINFO GROUPS``: entries
not yet delivered, ``lag``, plus delivered but not yet acknowledged, ``pending``) and Redis's
``used_memory`` (where a backlog waits). Printed and written to ``benchmarks/out/worker_burst.json``: the
peak RSS in the first steady phase and from the burst on, the largest backlog, and the time from the end
of the burst until the backlog is back to the first steady phase's largest. Redis keys go under a fresh
``pymk-burst:`` prefix and are deleted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import redis

from pymk.sim import SimConfig, simulate
from pymk.stream import open_sink
from pymk.stream.live import publish_live

HERE = Path(__file__).resolve().parent


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (0.0 once it is gone)."""
    try:
        import psutil  # type: ignore[import-untyped,unused-ignore]

        return float(psutil.Process(pid).memory_info().rss) / 2**20
    except ImportError:
        pass
    except Exception:  # the process ended
        return 0.0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def backlog(client: redis.Redis, stream: str) -> tuple[int, int]:
    """``(lag, pending)`` of the ``pymk`` group on ``stream``: not yet delivered, not yet acknowledged
    (lag = every entry before the group exists)."""
    try:
        groups = client.xinfo_groups(stream)
    except redis.ResponseError:
        return 0, 0
    for g in groups:
        name = g["name"].decode() if isinstance(g["name"], bytes) else g["name"]
        if name == "pymk":
            lag = g.get("lag")
            if lag is None:  # Redis cannot tell (entries deleted): count from the last delivered id
                lag = len(client.xrange(stream, min=f"({g['last-delivered-id'].decode()}", count=10**7) or [])
            return int(lag), int(g["pending"])
    return int(client.xlen(stream)), 0


class Sampler(threading.Thread):
    """Samples ``(t, phase, rss_mb, lag, pending, redis_mb)`` every ``every_s`` seconds."""

    def __init__(self, pid: int, client: redis.Redis, stream: str, every_s: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.client, self.stream, self.every_s = pid, client, stream, every_s
        self.phase = "start"
        self.samples: list[dict[str, Any]] = []
        self.stop = threading.Event()
        self.t0 = time.monotonic()

    def run(self) -> None:
        while not self.stop.wait(self.every_s):
            lag, pending = backlog(self.client, self.stream)
            used = int(self.client.info("memory")["used_memory"]) / 2**20
            self.samples.append(
                {
                    "t": round(time.monotonic() - self.t0, 2),
                    "phase": self.phase,
                    "rss_mb": round(rss_mb(self.pid), 1),
                    "lag": lag,
                    "pending": pending,
                    "redis_mb": round(used, 1),
                }
            )


def events_table(n: int) -> pa.Table:
    """At least ``n`` simulated events (one simulation, ~30 events per user), in order."""
    users = max(1000, n // 25)
    while True:
        table = pa.concat_tables(simulate(SimConfig(users=users, seed=3)).iter_tables())
        if table.num_rows >= n:
            return table.slice(0, n)
        users = int(users * 1.5 * n / max(table.num_rows, 1)) + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=2000.0, help="steady events/s")
    parser.add_argument("--factor", type=float, default=10.0, help="burst rate = factor x rate")
    parser.add_argument("--steady-s", type=float, default=10.0)
    parser.add_argument("--burst-s", type=float, default=10.0)
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument("--batch", type=int, default=5000, help="PYMK_WORKER_BATCH_SIZE of the worker")
    parser.add_argument("--online", choices=["redis", "memory"], default="redis")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "worker_burst.json")
    args = parser.parse_args()
    burst_rate = args.rate * args.factor
    phases = [("steady", args.rate, args.steady_s), ("burst", burst_rate, args.burst_s)]
    phases.append(("after", args.rate, args.steady_s))
    table = events_table(int(sum(r * s for _, r, s in phases) * 1.05) + 1)
    prefix = f"pymk-burst:{uuid.uuid4().hex[:8]}:"
    stream = f"{prefix}events"
    client = redis.Redis.from_url(args.redis)
    tmp = Path(tempfile.mkdtemp(prefix="pymk-burst-"))
    env = {
        **os.environ,
        "PYMK_HOME": str(tmp / "home"),
        "PYMK_TRACKING_URL": "memory://",
        "PYMK_EVENTS_URL": f"{args.redis}?stream={stream}",
        "PYMK_ONLINE_URL": "memory://" if args.online == "memory" else f"{args.redis}?prefix={prefix}online:",
        "PYMK_WORKER_BATCH_SIZE": str(args.batch),
    }
    command = [sys.executable, "-c", "from pymk.cli import main; main()", "worker"]
    log = open(tmp / "worker.log", "wb")  # closed in finally
    worker = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    sampler = Sampler(worker.pid, client, stream)
    published: dict[str, dict[str, float]] = {}
    burst_end = 0.0
    try:
        time.sleep(3.0)  # imports and the consumer group
        sampler.phase = "idle"
        sampler.start()
        time.sleep(1.0)
        sink = open_sink(env["PYMK_EVENTS_URL"])
        offset = 0
        for name, rate, seconds in phases:
            sampler.phase = name
            part = table.slice(offset, int(rate * seconds * 1.05) + 1)
            report = publish_live(sink, [part], rate=rate, duration=seconds)
            offset += report.published
            published[name] = {
                "events": report.published,
                "seconds": round(report.seconds, 2),
                "rate": round(report.published / max(report.seconds, 1e-9)),
            }
            if name == "burst":
                burst_end = time.monotonic()
        sink.close()
        sampler.phase = "drain"
        deadline = time.monotonic() + args.drain_timeout
        while time.monotonic() < deadline and sum(backlog(client, stream)) > 0:
            time.sleep(0.05)
        time.sleep(1.0)
    finally:
        sampler.stop.set()
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
    samples = sampler.samples
    steady_max = max((s["lag"] + s["pending"] for s in samples if s["phase"] == "steady"), default=0)
    since = burst_end - sampler.t0
    back = [s["t"] - since for s in samples if s["t"] >= since and s["lag"] + s["pending"] <= steady_max]
    drain_s = back[0] if back else None

    def peak(key: str, phases: set[str]) -> float:
        return max((float(s[key]) for s in samples if s["phase"] in phases), default=0.0)

    later = {"burst", "after", "drain"}
    result = {
        "benchmark": "worker_burst",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "online": args.online,
        "batch": args.batch,
        "published": published,
        "rss_mb": {
            "idle": peak("rss_mb", {"idle"}),
            "steady_peak": peak("rss_mb", {"steady"}),
            "burst_peak": peak("rss_mb", later),
            "end": samples[-1]["rss_mb"] if samples else 0.0,
        },
        "backlog": {
            "steady_max_lag_plus_pending": int(steady_max),
            "max_lag": int(peak("lag", later)),
            "max_pending": int(peak("pending", later)),
        },
        "redis_mb": {"steady_peak": peak("redis_mb", {"steady"}), "burst_peak": peak("redis_mb", later)},
        "drain_s_after_burst": None if drain_s is None else round(drain_s, 2),
        "worker_log_tail": (tmp / "worker.log").read_text(errors="replace")[-500:],
        "samples": samples,
    }
    summary = {k: v for k, v in result.items() if k not in ("samples", "worker_log_tail")}
    print(json.dumps(summary, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
