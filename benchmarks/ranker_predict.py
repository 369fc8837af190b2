"""LightGBM against the lleaves-compiled ranker (pymk.models.compiled) on a real fitted pipeline.

    .venv/bin/python benchmarks/ranker_predict.py [--dataset CollegeMsg] [--users 256] [--repeat 7]

Fits the default pipeline on the data set's DESIGN §4 train part, takes the candidate pairs of ``--users``
query users (what one batch of ``pymk batch`` ranks), and times ``PymkPipeline.rank`` with every ranker on
LightGBM and then compiled, alternating A B A B ``--repeat`` times (medians; the machine is shared), plus
the one-off compile time. Checks the two give the same scores. Writes ``benchmarks/out/ranker_predict.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from statistics import median

import numpy as np

from _data import eval_data_dir
from pymk.evaluation.protocol import load_interactions, split_interactions
from pymk.features.rows import Rows
from pymk.io.formats import Format
from pymk.models.pipeline import PymkPipeline

HERE = Path(__file__).resolve().parent
DATASETS = {
    "CollegeMsg": ("CollegeMsg/CollegeMsg.txt", Format.SNAP_TEMPORAL),
    "bitcoin-otc": ("soc-sign-bitcoin-otc/soc-sign-bitcoinotc.csv.gz", Format.BITCOIN_CSV),
    "sx-askubuntu-a2q": ("sx-askubuntu-a2q/sx-askubuntu-a2q.txt.gz", Format.SNAP_TEMPORAL),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="CollegeMsg", choices=sorted(DATASETS))
    parser.add_argument("--users", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--out", type=Path, default=HERE / "out" / "ranker_predict.json")
    args = parser.parse_args()
    name, fmt = DATASETS[args.dataset]
    split = split_interactions(load_interactions(eval_data_dir() / name, fmt))
    pipe = PymkPipeline()
    start = time.perf_counter()
    pipe.fit(Rows.from_split(split))
    fit_s = time.perf_counter() - start
    users = np.asarray(split.query_users[: args.users], dtype=np.int64)
    pb = pipe.pairs(users)
    boosters = sum(len(r.boosters) for r in pipe.rankers)
    trees = sum(r.best_rounds * len(r.boosters) for r in pipe.rankers)

    def use(compiled: bool) -> float:
        for ranker in pipe.rankers:
            ranker.compiled = saved[id(ranker)] if compiled else None
        start = time.perf_counter()
        pipe.rank(pb)
        return time.perf_counter() - start

    expected = pipe.rank(pb)
    start = time.perf_counter()
    ok = all(r.compile() for r in pipe.rankers if r.boosters)
    compile_s = time.perf_counter() - start
    if not ok:
        raise SystemExit("lleaves is not available: nothing to compare")
    saved = {id(r): r.compiled for r in pipe.rankers}
    got = pipe.rank(pb)
    lgb_s, fast_s = [], []
    for _ in range(args.repeat):
        lgb_s.append(use(False))
        fast_s.append(use(True))
    rows = int(pb.rows.shape[0])
    result = {
        "dataset": args.dataset,
        "query_users": int(users.shape[0]),
        "pair_rows": rows,
        "boosters": boosters,
        "trees": trees,
        "fit_seconds": round(fit_s, 2),
        "compile_seconds": round(compile_s, 2),
        "max_abs_diff": float(np.abs(got - expected).max()),
        "lightgbm_seconds": [round(s, 4) for s in lgb_s],
        "compiled_seconds": [round(s, 4) for s in fast_s],
        "lightgbm_us_per_row": round(median(lgb_s) / rows * 1e6, 3),
        "compiled_us_per_row": round(median(fast_s) / rows * 1e6, 3),
        "speedup": round(median(lgb_s) / median(fast_s), 2),
    }
    print(
        f"{args.dataset}: {rows:,} candidate rows of {users.shape[0]} users, {boosters} boosters "
        f"({trees} trees): LightGBM {result['lightgbm_us_per_row']} µs/row, compiled "
        f"{result['compiled_us_per_row']} µs/row (median of {args.repeat}) -> {result['speedup']}x; "
        f"compile {compile_s:.1f} s once; max |diff| {result['max_abs_diff']:.1e}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
