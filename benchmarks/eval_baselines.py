"""Benchmark: the six §4.7 baselines on sx-askubuntu-a2q (the scale case), timed end to end.

    .venv/bin/python benchmarks/eval_baselines.py [--data FILE] [--models popularity,...] [--out JSON]

Prints read/split time, each model's fit and score seconds (score = the whole scoring pass: model scores,
masking, top-k, metrics) and the total wall time, plus CPU time and the load average, since the
development machine is shared (2 cores) and wall time alone misleads when others are busy. Writes the
§4 result with a ``benchmark`` section to ``benchmarks/out/eval_baselines.json``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

from _data import eval_data_dir
from pymk.evaluation.protocol import load_interactions, split_interactions
from pymk.evaluation.registry import BASELINES, default_registry
from pymk.evaluation.report import write_json
from pymk.evaluation.runner import evaluate
from pymk.io.formats import Format

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = eval_data_dir() / "sx-askubuntu-a2q" / "sx-askubuntu-a2q.txt.gz"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--format", default=Format.SNAP_TEMPORAL.value)
    parser.add_argument("--models", default=",".join(BASELINES))
    parser.add_argument("--k", default="10,20,50")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "eval_baselines.json")
    args = parser.parse_args()
    if not args.data.exists():
        print(f"{args.data} not found; nothing to benchmark")
        return 0

    load_before = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    split = split_interactions(load_interactions(args.data, Format(args.format)))
    read_s = time.perf_counter() - wall
    print(
        f"read+split {args.data.name}: {read_s:.1f} s — {split.n_users:,} users, "
        f"{split.query_users.shape[0]:,} query users"
    )

    def progress(name: str, done: int, total: int) -> None:
        if done == total:
            print(f"  {name:<10} done", flush=True)

    models = default_registry().create_all(args.models.split(","))
    result = evaluate(split, models, [int(k) for k in args.k.split(",")], progress=progress)
    total_s, cpu_s = time.perf_counter() - wall, time.process_time() - cpu

    print(f"\n{'model':<11}{'fit s':>8}{'score s':>9}{'recall@20':>11}{'ndcg@20':>9}")
    for name, m in result["models"].items():
        print(
            f"{name:<11}{m['fit_seconds']:>8.2f}{m['score_seconds']:>9.2f}"
            f"{m.get('recall@20', float('nan')):>11.4f}{m.get('ndcg@20', float('nan')):>9.4f}"
        )
    load_after = os.getloadavg()[0]
    print(
        f"\ntotal wall {total_s:.1f} s (target < 180 s), CPU {cpu_s:.1f} s, "
        f"{os.cpu_count()} cores, load average {load_before:.1f} -> {load_after:.1f}"
    )
    result["benchmark"] = {
        "data": args.data.name,
        "read_split_seconds": round(read_s, 3),
        "total_wall_seconds": round(total_s, 3),
        "total_cpu_seconds": round(cpu_s, 3),
        "cpu_count": os.cpu_count(),
        "load_average_before_after": [round(load_before, 2), round(load_after, 2)],
        "machine": platform.processor() or platform.machine(),
    }
    write_json(result, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
