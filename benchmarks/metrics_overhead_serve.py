"""Benchmark: what the service metrics cost in throughput, end to end: ``pymk serve`` under wrk, metrics on
against metrics off (``PYMK_METRICS_ENABLED``), same home, alternating runs.

    .venv/bin/python benchmarks/metrics_overhead_serve.py [--rounds 8] [--duration 5] [--connections 32]
        [--threads 1] [--workers 1] [--users 20000] [--list-k 50] [--k 20] [--zipf 1.1] [--home DIR]
        [--mode hybrid|realtime|precomputed] [--simultaneous] [--cpu N] [--control] [--json OUT]

On a shared machine use ``--simultaneous --cpu 1`` (the RESULTS.md figures: A/A rounds within 3 %);
unpinned, A/A runs there differed by 8-29 %.

Every run starts a fresh ``pymk serve`` over one home (synthetic precomputed lists of ``--users`` users
written through the real store, or the lists and model of ``--home``), metrics **on**
(``PYMK_METRICS_ENABLED=true``, as shipped) or **off** (``false``: the hot path records nothing), warms it
for ``--warmup`` seconds, loads it with wrk for ``--duration`` seconds (single GETs of ``--k`` items, user
ids drawn Zipf(``--zipf``) from the home's users), scrapes ``/metrics`` and stops it. ``--rounds`` rounds
of one run per variant, the order swapped every round (on off, off on, ...), so that load from other
processes on the machine and any drift hit both alike. One server at a time, in the same place: with two
long-lived servers side by side, a short A/A run (``--control``: metrics on in both) measured the
first-started one about 20 % slower on a shared 2-core machine; fresh servers leave no place for such
a position effect. ``--simultaneous``
instead starts both variants fresh each round (start order swapped) and loads them at the same time,
one wrk each: a moment of load from elsewhere then hits both alike, and as they share the CPU, the one
that needs more per request answers fewer.

Reported: requests/s of every run, the median per variant, ``ratio = median(on) / median(off)``, the
median and spread (min..max) of the per-round ratios (how noisy the machine was); and each run's server
CPU time (user + system of every process of the server's group, from ``/proc``) per request answered,
which moves much less than requests/s when other work shares the cores (at saturation throughput is
the CPU the server gets divided by it). Checks that the "on" servers counted the GETs wrk sent
(``pymk_http_requests_total``) and the "off" ones answered ``/metrics`` with 404. Every request goes to
127.0.0.1. Needs ``wrk`` (``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from load_tools import free_port, wait_ready, wrk_load
from pymk.events.ids import IdMap
from serve_load import synthetic_home, zipf_users


def start_server(
    home: Path, enabled: bool, workers: int, mode: str, work: Path
) -> tuple[subprocess.Popen[bytes], str]:
    """``pymk serve`` over ``home`` with metrics on or off, HTTP only; its process and base URL."""
    port = free_port()
    env = {
        **os.environ,
        "PYMK_HOME": str(home),
        "PYMK_SERVING_MODE": mode,
        "PYMK_METRICS_ENABLED": "true" if enabled else "false",
        "PYMK_TRACKING_URL": "memory://",
        "TMPDIR": str(work),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    command = [sys.executable, "-c", "from pymk.cli import main; main()", "serve", "--port", str(port)]
    command += ["--no-grpc", "--workers", str(workers)]
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    return proc, f"http://127.0.0.1:{port}"


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL of the whole group (granian workers can outlive SIGTERM)."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(15)


def group_cpu_s(pgid: int) -> float:
    """User + system CPU seconds of the live processes of process group ``pgid`` (Linux ``/proc``)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        if int(fields[2]) == pgid:  # pgrp
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def counted(base: str) -> tuple[int, float]:
    """``/metrics`` status and the sum of ``pymk_http_requests_total{endpoint="recommendations"}``."""
    try:
        with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
            text = response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, 0.0
    total = sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "pymk_http_requests_total" and s.labels.get("endpoint") == "recommendations"
    )
    return 200, total


def started(
    home: Path, enabled: bool, args: argparse.Namespace, work: Path
) -> tuple[subprocess.Popen[bytes], str]:
    """A ready server (a start that fails, e.g. a free port taken meanwhile by another process, is tried
    again, three times in all)."""
    for attempt in range(3):
        proc, base = start_server(home, enabled, args.workers, args.mode, work)
        try:
            wait_ready(f"{base}/readyz", proc, timeout=600)
            return proc, base
        except SystemExit:
            stop(proc)
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def measure(
    names: list[str], home: Path, gets: list[str], args: argparse.Namespace, work: Path
) -> dict[str, tuple[dict[str, Any], int, float]]:
    """Fresh servers for ``names`` (started in that order), warmed and loaded by one wrk each, all at
    once; per name the wrk result (with ``server_cpu_us_per_request``), the ``/metrics`` status and the
    GETs it counted. Stopped afterwards."""
    servers: dict[str, tuple[subprocess.Popen[bytes], str, Path]] = {}
    try:
        for name in names:
            proc, base = started(home, name == "on" or args.control, args, work)
            scratch = work / f"wrk-{name}"  # wrk_load writes its script there: one per concurrent run
            scratch.mkdir(exist_ok=True)
            servers[name] = (proc, base, scratch)
        with ThreadPoolExecutor(len(names)) as pool:

            def load(name: str, seconds: float) -> dict[str, Any]:
                _, base, scratch = servers[name]
                return wrk_load(base, gets, None, seconds, args.connections, args.threads, scratch)

            list(pool.map(lambda name: load(name, args.warmup), names))
            cpu = {name: group_cpu_s(servers[name][0].pid) for name in names}
            results = dict(zip(names, pool.map(lambda name: load(name, args.duration), names), strict=True))
        out = {}
        for name, r in results.items():
            proc, base, _ = servers[name]
            r["server_cpu_us_per_request"] = (group_cpu_s(proc.pid) - cpu[name]) / r["requests"] * 1e6
            status, n = counted(base)
            out[name] = (r, status, n)
        return out
    finally:
        for proc, _, _ in servers.values():
            stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=8, help="runs per variant (order swapped each round)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load per server before timing")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--workers", type=int, default=1, help="pymk serve HTTP worker processes")
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--list-k", type=int, default=50, help="stored list width (synthetic lists)")
    parser.add_argument("--k", type=int, default=20, help="k asked for per request")
    parser.add_argument("--zipf", type=float, default=1.1)
    parser.add_argument("--home", type=Path, help="serve the lists (and model) already in this PYMK_HOME")
    parser.add_argument("--mode", choices=("hybrid", "realtime", "precomputed"), default="hybrid")
    parser.add_argument("--control", action="store_true", help="metrics on in both servers (A/A)")
    parser.add_argument(
        "--simultaneous",
        action="store_true",
        help="each round: both servers at once, each under its own wrk (same load on both)",
    )
    parser.add_argument(
        "--cpu",
        type=int,
        help="pin this process, the servers and wrk to this one CPU (they then share it alike)",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})  # inherited by every process started from here

    work = Path(tempfile.mkdtemp(prefix="pymk-metrics-e2e-"))
    home = args.home or work / "home"
    if args.home:
        current = home / "lists" / "CURRENT"
        if not current.exists():
            raise SystemExit(f"no lists under {home}/lists: run pymk batch first")
        id_map = IdMap.load(home / "lists" / current.read_text().strip() / "ids.arrow")
        ids = id_map.decode(np.arange(len(id_map)))
    else:
        ids = synthetic_home(home, args.users, args.list_k)
    gets = [
        f"/v1/users/{quote(u, safe='')}/recommendations?k={args.k}"
        for u in zipf_users(ids, 20_000, args.zipf)
    ]
    runs: dict[str, list[dict[str, Any]]] = {"on": [], "off": []}
    checks: dict[str, list[int]] = {"on": [], "off": []}
    counted_on = 0.0
    try:
        for i in range(args.rounds):
            order = ["on", "off"] if i % 2 == 0 else ["off", "on"]
            groups = [order] if args.simultaneous else [[name] for name in order]
            for group in groups:
                for name, (r, status, n) in measure(group, home, gets, args, work).items():
                    runs[name].append(r)
                    checks[name].append(status)
                    counted_on += n if name == "on" else 0.0
                    print(
                        f"round {i + 1}/{args.rounds} {name:>3}: {r['requests_per_s']:8.0f} req/s  "
                        f"server CPU {r['server_cpu_us_per_request']:.1f} us/req  p50 {r['p50_ms']:.2f} ms  "
                        f"p99 {r['p99_ms']:.2f} ms  errors {r['errors']}",
                        file=sys.stderr,
                    )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rps = {name: [r["requests_per_s"] for r in rs] for name, rs in runs.items()}
    pairs = [on / off for on, off in zip(rps["on"], rps["off"], strict=True)]
    sent_on = sum(r["requests"] for r in runs["on"])
    summary = {
        name: {
            "median_requests_per_s": statistics.median(v),
            "min_requests_per_s": min(v),
            "max_requests_per_s": max(v),
            "median_server_cpu_us_per_request": statistics.median(
                r["server_cpu_us_per_request"] for r in runs[name]
            ),
            "median_p50_ms": statistics.median(r["p50_ms"] for r in runs[name]),
            "median_p99_ms": statistics.median(r["p99_ms"] for r in runs[name]),
            "errors": sum(r["errors"] for r in runs[name]),
        }
        for name, v in rps.items()
    }
    ratio = summary["on"]["median_requests_per_s"] / summary["off"]["median_requests_per_s"]
    cpu = {name: summary[name]["median_server_cpu_us_per_request"] for name in summary}
    cpu_pairs = [
        a["server_cpu_us_per_request"] / b["server_cpu_us_per_request"]
        for a, b in zip(runs["on"], runs["off"], strict=True)
    ]
    report = {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "runs": runs,
        "summary": summary,
        "ratio_of_medians": ratio,
        "throughput_lost": 1 - ratio,
        "pair_ratios": pairs,
        "median_pair_ratio": statistics.median(pairs),
        "server_cpu_ratio_of_medians": cpu["on"] / cpu["off"],
        "server_cpu_pair_ratios": cpu_pairs,
        "checks": {
            "metrics_status": checks,
            "on_counted_recommendations": counted_on,
            "sent_to_on_timed": sent_on,
        },
    }
    print(
        f"{'variant':<8}{'median req/s':>14}{'min':>9}{'max':>9}{'CPU us/req':>12}{'p50 ms':>9}{'p99 ms':>9}"
    )
    for name, s in summary.items():
        print(
            f"{name:<8}{s['median_requests_per_s']:>14.0f}{s['min_requests_per_s']:>9.0f}"
            f"{s['max_requests_per_s']:>9.0f}{s['median_server_cpu_us_per_request']:>12.1f}"
            f"{s['median_p50_ms']:>9.2f}{s['median_p99_ms']:>9.2f}"
        )
    print(
        f"on/off: {ratio:.3f} (throughput lost {100 * (1 - ratio):.1f} %); per-round ratios median "
        f"{statistics.median(pairs):.3f}, min {min(pairs):.3f}, max {max(pairs):.3f}"
    )
    cpu_ratio = cpu["on"] / cpu["off"]
    print(
        f"server CPU per request on/off: {cpu_ratio:.3f} ({100 * (cpu_ratio - 1):+.1f} %); per-round "
        f"ratios median {statistics.median(cpu_pairs):.3f}, min {min(cpu_pairs):.3f}, "
        f"max {max(cpu_pairs):.3f}"
    )
    print(
        f"checks: /metrics answered {sorted(set(checks['on']))} with metrics on, counted {counted_on:.0f} "
        f"GETs (>= {sent_on} timed); {sorted(set(checks['off']))} with metrics off"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
