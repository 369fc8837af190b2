"""Scaling study (issue 7): time and peak memory of each pymk stage at 10k, 100k and 1M simulated users.

For each size N the simulator's default shape (``pymk simulate --users N``: average degree 20, so N*10
connect events, 180 days) is written as JSONL and carried through the real commands, each one its own
process (wall time; peak RSS of its largest process from ``wait4``; the sum over its process tree,
sampled every 0.2 s with psutil, for commands with worker processes):

- ``simulate``: ``pymk simulate --users N --out events.jsonl``
- ``import``: ``pymk import events.jsonl --format events-jsonl`` into an empty ``PYMK_HOME``
- ``train``: ``benchmarks/_scaling_train.py``: ``pymk train``'s own ``train_home`` (both fits in full),
  holdout scored on at most ``--train-queries`` query users (a seeded sample: it is O(queries x N))
- ``batch``: ``pymk batch --k 50 --workers W --users sample.txt``, a seeded random sample of
  ``--batch-sample`` users (all users when N is not larger); ``core_ms_per_user`` = (run - model load)
  wall seconds x workers / users. Under a loaded machine prefer CPU: with the redis stage's 1-worker run,
  ``workers*L + users*c = cpu_seconds`` for the two runs gives the CPU per model load L and per user c
- ``redis``: the same sample size (``--redis-sample``) batched into Redis (``PYMK_LISTS_URL``), then
  ``MEMORY USAGE`` and ``STRLEN`` of every list key (bytes per stored list), keys deleted afterwards
- ``serve``: ``pymk serve --workers 1 --no-grpc``: seconds to ``/readyz``, RSS of the loaded server, then
  wrk (``--serve-connections`` connections, one thread, ``--serve-duration`` s) GETting
  ``/v1/users/{id}/recommendations?k=20`` for the batch sample's users (uniform), in the default hybrid mode

Stages read what the earlier ones wrote under ``--work/<N>``, so a stage can be rerun alone
(``--sizes 1M --stages batch,serve``). Results merge into ``--json`` (default
``benchmarks/out/scaling.json``) keyed by size and stage; a table of everything in it is printed.

    nice -n 10 .venv/bin/python benchmarks/scaling.py --sizes 10k
    nice -n 10 .venv/bin/python benchmarks/scaling.py --sizes 100k --batch-sample 2000 --redis-sample 300
    nice -n 10 .venv/bin/python benchmarks/scaling.py --sizes 1M --import-parts 2 --batch-sample 500
    .venv/bin/python benchmarks/scaling.py --table-only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import psutil  # type: ignore[import-untyped,unused-ignore]

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_tools import free_port, wait_ready, wrk_load  # noqa: E402

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "scaling.json"
STAGES = ("simulate", "import", "train", "batch", "redis", "serve")
PYMK = [sys.executable, "-c", "from pymk.cli import main; main()"]


def parse_size(text: str) -> int:
    """``10k`` → 10000, ``1M`` → 1000000, ``2500`` → 2500."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmM]?)", text.strip())
    if not m:
        raise SystemExit(f"--sizes: cannot read {text!r} (use e.g. 10k, 100k, 1M)")
    scale = {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2).lower()]
    return int(float(m.group(1)) * scale)


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1_000}k" if n % 1_000 == 0 else str(n)


def measure(command: list[str], env: dict[str, str], log: Path) -> dict[str, Any]:
    """Run ``command`` to the end; wall seconds, peak RSS of its largest process and of its tree (MiB).

    Fails (SystemExit naming ``log``) when the command exits non-zero.
    """
    started = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    tree_peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal tree_peak
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
                total = 0
                for p in procs:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                tree_peak = max(tree_peak, total)
            except psutil.Error:
                return
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {proc.returncode}; see {log}")
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "tree_peak_rss_mib": round(tree_peak / 2**20, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "command": " ".join(command[3:] if command[:3] == PYMK else command),
    }


def active_user_ids(home: Path) -> list[str]:
    """The external ids of the active model version's users."""
    from pymk.config import load_settings
    from pymk.registry import open_registry
    from pymk.serving.batch import _bundle_user_ids

    active = open_registry(load_settings(home=home)).active()
    if active is None:
        raise SystemExit(f"no active model version in {home}: run the train stage first")
    return _bundle_user_ids(active.path)


def sample_file(work: Path, home: Path, size: int, seed: int, name: str) -> tuple[Path, int]:
    """A seeded random sample of ``size`` of the active version's users, one id per line."""
    ids = active_user_ids(home)
    rng = np.random.default_rng(seed)
    picks = ids if size >= len(ids) else [ids[i] for i in np.sort(rng.choice(len(ids), size, replace=False))]
    path = work / name
    path.write_text("\n".join(picks) + "\n")
    return path, len(ids)


def stage_simulate(n: int, work: Path, env: dict[str, str]) -> dict[str, Any]:
    events = work / "events.jsonl"
    r = measure([*PYMK, "simulate", "--users", str(n), "--out", str(events)], env, work / "simulate.log")
    said = " ".join((work / "simulate.log").read_text().split())
    m = re.search(r"simulated ([\d,]+) users, ([\d,]+) connections, ([\d,]+) events", said)
    if m:
        r["users"], r["connections"], r["events"] = (int(g.replace(",", "")) for g in m.groups())
    r["jsonl_bytes"] = events.stat().st_size
    return r


def stage_import(work: Path, env: dict[str, str], parts: int) -> dict[str, Any]:
    """``pymk import`` into an empty home, in ``parts`` consecutive slices of the file when > 1.

    The importer holds ~250 bytes per row until its one commit (io/importer.py), so a big file is
    imported in parts, as that docstring advises; each part is its own measured process.
    """
    home = Path(env["PYMK_HOME"])
    shutil.rmtree(home, ignore_errors=True)
    files = [work / "events.jsonl"]
    if parts > 1:
        for old in work.glob("part-*.jsonl"):
            old.unlink()
        split = ["split", "-n", f"l/{parts}", "-d", "--additional-suffix=.jsonl"]
        subprocess.run([*split, str(files[0]), str(work / "part-")], check=True)
        files = sorted(work.glob("part-*.jsonl"))
    runs, reports = [], []
    for i, path in enumerate(files):
        report = work / f"import-{i}.json"
        command = [*PYMK, "import", str(path), "--format", "events-jsonl", "--json", str(report)]
        runs.append(measure(command, env, work / f"import-{i}.log"))
        reports.append(json.loads(report.read_text()))
    if parts > 1:
        for path in files:
            path.unlink()
    r: dict[str, Any] = {
        "seconds": round(sum(x["seconds"] for x in runs), 2),
        "peak_rss_mib": max(x["peak_rss_mib"] for x in runs),
        "tree_peak_rss_mib": max(x["tree_peak_rss_mib"] for x in runs),
        "cpu_seconds": round(sum(x["cpu_seconds"] for x in runs), 1),
        "command": runs[0]["command"]
        if parts <= 1
        else f"split -n l/{parts} events.jsonl; pymk import part-<i>.jsonl --format events-jsonl (x{parts})",
        "parts": len(files),
        "rows": sum(x["rows_read"] for x in reports),
        "report": reports[0] if parts <= 1 else reports,
    }
    if parts > 1:
        r["part_runs"] = runs
    return r


def stage_train(work: Path, env: dict[str, str], max_queries: int) -> dict[str, Any]:
    report = work / "train.json"
    command = [sys.executable, str(HERE / "_scaling_train.py"), "--max-queries", str(max_queries)]
    r = measure([*command, "--json", str(report)], env, work / "train.log")
    r["command"] = f"benchmarks/_scaling_train.py --max-queries {max_queries}"
    r["report"] = json.loads(report.read_text())
    return r


def stage_batch(work: Path, env: dict[str, str], sample: int, workers: int, seed: int) -> dict[str, Any]:
    users, total = sample_file(work, Path(env["PYMK_HOME"]), sample, seed, "batch-users.txt")
    command = [*PYMK, "batch", "--k", "50", "--workers", str(workers), "--users", str(users)]
    r = measure(command, env, work / "batch.log")
    said = " ".join((work / "batch.log").read_text().split())
    m = re.search(r"precomputed (\d+) lists .* in ([\d.]+) s \((\d+) worker.*took ([\d.]+) s\)", said)
    if not m:
        raise SystemExit(f"cannot read the batch summary in {work / 'batch.log'}")
    lists, run_s, used, load_s = int(m.group(1)), float(m.group(2)), int(m.group(3)), float(m.group(4))
    score_s = run_s - load_s
    r.update(
        users_total=total,
        users_sampled=lists,
        workers=used,
        run_seconds=run_s,
        load_seconds=load_s,
        score_seconds=round(score_s, 2),
        core_ms_per_user=round(1000 * score_s * used / lists, 2),
        cpu_ms_per_user_incl_load=round(1000 * r["cpu_seconds"] / lists, 2),
        mmap_bytes_per_list=_mmap_bytes_per_list(Path(env["PYMK_HOME"]), lists),
    )
    return r


def _mmap_bytes_per_list(home: Path, lists: int) -> dict[str, float]:
    """Bytes of the committed mmap snapshot: per user row (fixed arrays) and per written list (JSON)."""
    snap = home / "lists" / (home / "lists" / "CURRENT").read_text().strip()
    meta = json.loads((snap / "meta.json").read_text())
    arrays = sum(p.stat().st_size for p in snap.glob("*.npy"))
    rows = int(np.load(snap / "counts.npy", mmap_mode="r").shape[0])
    return {
        "arrays_per_user_row": round(arrays / rows, 1),
        "json_per_list": round(meta["json_bytes"] / max(lists, 1), 1),
    }


def stage_redis(work: Path, env: dict[str, str], sample: int, url: str, seed: int) -> dict[str, Any]:
    import redis

    users, _ = sample_file(work, Path(env["PYMK_HOME"]), sample, seed + 1, "redis-users.txt")
    prefix = f"pymk-scaling-{os.getpid()}:"
    client = redis.Redis.from_url(url)
    before = int(client.info("memory")["used_memory"])
    lists_env = {**env, "PYMK_LISTS_URL": f"{url}?prefix={prefix}"}
    command = [*PYMK, "batch", "--k", "50", "--workers", "1", "--users", str(users)]
    r = measure(command, lists_env, work / "redis.log")
    try:
        after = int(client.info("memory")["used_memory"])
        keys = list(client.scan_iter(match=f"{prefix}list:*", count=1000))
        usage = [int(client.memory_usage(k) or 0) for k in keys]
        lengths = [int(client.strlen(k)) for k in keys]
    finally:
        for k in client.scan_iter(match=f"{prefix}*", count=1000):
            client.delete(k)
    r.update(
        lists=len(keys),
        memory_usage_per_list=round(float(np.mean(usage)), 1),
        value_bytes_per_list=round(float(np.mean(lengths)), 1),
        used_memory_delta_per_list=round((after - before) / max(len(keys), 1), 1),
        command=r["command"] + f"  (PYMK_LISTS_URL={url}?prefix=...)",
    )
    return r


def stage_serve(work: Path, env: dict[str, str], duration: float, connections: int) -> dict[str, Any]:
    users = _listed((work / "batch-users.txt").read_text().split(), Path(env["PYMK_HOME"]))
    port = free_port()
    command = [*PYMK, "serve", "--workers", "1", "--no-grpc", "--port", str(port)]
    started = time.perf_counter()
    with (work / "serve.log").open("w") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{base}/readyz", server, timeout=3600)
        ready_s = time.perf_counter() - started
        from urllib.parse import quote

        gets = [f"/v1/users/{quote(u, safe='')}/recommendations?k=20" for u in users]
        with urllib.request.urlopen(base + gets[0], timeout=30) as response:
            body = json.loads(response.read())
        rss_loaded = _tree_rss(server.pid)
        load_dir = Path(tempfile.mkdtemp(prefix="pymk-scaling-wrk-"))
        load = wrk_load(base, gets, None, duration, connections, 1, load_dir)
        shutil.rmtree(load_dir, ignore_errors=True)
        rss_after = _tree_rss(server.pid)
    finally:
        server.terminate()
        server.wait(30)
    return {
        "command": " ".join(command[3:]) + f"; wrk -t1 -c{connections} -d{duration:g}s (GET k=20)",
        "seconds_to_ready": round(ready_s, 2),
        "rss_loaded_mib": round(rss_loaded / 2**20, 1),
        "rss_after_load_mib": round(rss_after / 2**20, 1),
        "source": body.get("source"),
        "users_in_mix": len(users),
        **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in load.items()},
    }


def _listed(users: list[str], home: Path) -> list[str]:
    """The ``users`` that hold a list in the home's committed snapshot (deleted users hold none)."""
    from pymk.serving.lists_mmap import MmapListStore

    store = MmapListStore(home / "lists")
    try:
        return [u for u in users if store.get(u, 1) is not None]
    finally:
        store.close()


def _tree_rss(pid: int) -> int:
    root = psutil.Process(pid)
    return sum(p.memory_info().rss for p in (root, *root.children(recursive=True)))


def print_table(results: dict[str, Any]) -> None:
    """One row per size: events, then seconds / peak MiB per stage."""
    head = f"{'users':>6} {'events':>11} {'simulate':>14} {'import':>14} {'train':>14} {'batch ms/user':>14}"
    print(head + f" {'batch sample':>13} {'serve MiB':>10} {'GET req/s':>10} {'p99 ms':>7}")

    def cell(r: dict[str, Any], stage: str) -> str:
        s = r.get(stage)
        return "—" if s is None else f"{s['seconds']:.0f}s/{s['peak_rss_mib']:.0f}M"

    for size, r in sorted(results.items(), key=lambda kv: parse_size(kv[0])):
        b, s = r.get("batch"), r.get("serve")
        events = r.get("simulate", {}).get("events", 0)
        print(
            f"{size:>6} {events:>11,} {cell(r, 'simulate'):>14} {cell(r, 'import'):>14}"
            f" {cell(r, 'train'):>14}"
            f" {(b['core_ms_per_user'] if b else '—'):>14} {(b['users_sampled'] if b else '—'):>13}"
            f" {(s['rss_loaded_mib'] if s else '—'):>10} {(round(s['requests_per_s']) if s else '—'):>10}"
            f" {(round(s['p99_ms'], 1) if s else '—'):>7}"
        )


#: What the fits follow: name → (stage, key) of each size's results.
FIT_METRICS = {
    "simulate wall s": ("simulate", "seconds"),
    "simulate CPU s": ("simulate", "cpu_seconds"),
    "simulate peak MiB": ("simulate", "peak_rss_mib"),
    "import wall s": ("import", "seconds"),
    "import CPU s": ("import", "cpu_seconds"),
    "import peak MiB": ("import", "peak_rss_mib"),
    "train wall s": ("train", "seconds"),
    "train CPU s": ("train", "cpu_seconds"),
    "train peak MiB": ("train", "peak_rss_mib"),
    "batch core-ms per user (wall x workers)": ("batch", "core_ms_per_user"),
    "batch CPU ms per user (incl. model loads)": ("batch", "cpu_ms_per_user_incl_load"),
    "batch model load s": ("batch", "load_seconds"),
    "batch peak MiB (one process)": ("batch", "peak_rss_mib"),
    "batch tree peak MiB (all processes)": ("batch", "tree_peak_rss_mib"),
    "serve seconds to ready": ("serve", "seconds_to_ready"),
    "serve RSS loaded MiB": ("serve", "rss_loaded_mib"),
}


def fits(sizes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Least-squares power law ``y = a * N**b`` in log-log space for each metric measured at 2+ sizes.

    Also the local exponent between each pair of neighbouring sizes (``steps``), since three points
    rarely lie on one line.
    """
    out: dict[str, dict[str, Any]] = {}
    for name, (stage, key) in FIT_METRICS.items():
        points = sorted(
            (parse_size(size), float(r[stage][key]))
            for size, r in sizes.items()
            if stage in r and r[stage].get(key) is not None and float(r[stage][key]) > 0
        )
        if len(points) < 2:
            continue
        n, y = np.log([p[0] for p in points]), np.log([p[1] for p in points])
        b, log_a = np.polyfit(n, y, 1)
        steps = [
            {
                "from": label(points[i][0]),
                "to": label(points[i + 1][0]),
                "b": round(float((y[i + 1] - y[i]) / (n[i + 1] - n[i])), 3),
            }
            for i in range(len(points) - 1)
        ]
        out[name] = {"a": float(np.exp(log_a)), "b": round(float(b), 3), "points": points, "steps": steps}
    return out


def print_fits(found: dict[str, dict[str, Any]]) -> None:
    print(f"{'metric':<44}{'b (all)':>8}  local b per step")
    for name, f in found.items():
        steps = ", ".join(f"{s['from']}→{s['to']} {s['b']:.2f}" for s in f["steps"])
        print(f"{name:<44}{f['b']:>8.2f}  {steps}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10k,100k,1M", help="comma-separated user counts (10k, 100k, 1M)")
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated, of {', '.join(STAGES)}")
    parser.add_argument(
        "--work",
        type=Path,
        default=Path(tempfile.gettempdir()) / "pymk-scaling",
        help="where each size's events.jsonl, home and logs live (<work>/<N>/)",
    )
    parser.add_argument(
        "--import-parts", type=int, default=1, help="import the file in this many consecutive parts"
    )
    parser.add_argument("--train-queries", type=int, default=500, help="holdout query users scored (cap)")
    parser.add_argument("--batch-sample", type=int, default=10_000, help="users batched (all if fewer)")
    parser.add_argument("--batch-workers", type=int, default=os.cpu_count() or 1, help="pymk batch --workers")
    parser.add_argument("--redis-sample", type=int, default=500)
    parser.add_argument(
        "--redis-url", default=os.environ.get("PYMK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--serve-duration", type=float, default=10.0)
    parser.add_argument("--serve-connections", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0, help="seed of the user samples")
    parser.add_argument("--json", type=Path, default=OUT)
    parser.add_argument(
        "--table-only", action="store_true", help="print the table and fits of --json and exit"
    )
    args = parser.parse_args()

    results: dict[str, Any] = json.loads(args.json.read_text()) if args.json.exists() else {}
    sizes = results.setdefault("sizes", {})
    if args.table_only:
        print_table(sizes)
        print_fits(fits(sizes))
        return
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = set(stages) - set(STAGES)
    if unknown:
        raise SystemExit(f"--stages: unknown {sorted(unknown)} (known: {', '.join(STAGES)})")
    results["machine"] = {
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    for n in (parse_size(s) for s in args.sizes.split(",")):
        name = label(n)
        work = args.work / name
        work.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYMK_HOME": str(work / "home")}
        env.pop("PYMK_LISTS_URL", None)
        row = sizes.setdefault(name, {})
        for stage in stages:
            print(f"[{time.strftime('%H:%M:%S')}] {name}: {stage} ...", flush=True)
            load_avg = os.getloadavg()[0]
            if stage == "simulate":
                r = stage_simulate(n, work, env)
            elif stage == "import":
                r = stage_import(work, env, args.import_parts)
            elif stage == "train":
                r = stage_train(work, env, args.train_queries)
            elif stage == "batch":
                r = stage_batch(work, env, args.batch_sample, args.batch_workers, args.seed)
            elif stage == "redis":
                r = stage_redis(work, env, args.redis_sample, args.redis_url, args.seed)
            else:
                r = stage_serve(work, env, args.serve_duration, args.serve_connections)
            r["load_average_at_start"] = round(load_avg, 2)
            r["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            row[stage] = r
            print(f"    {json.dumps({k: v for k, v in r.items() if k != 'report'})}", flush=True)
            args.json.parent.mkdir(parents=True, exist_ok=True)
            results["fits"] = fits(sizes)
            args.json.write_text(json.dumps(results, indent=2))
    print_table(sizes)
    print_fits(results.get("fits", {}))


if __name__ == "__main__":
    main()
