"""Benchmark: what the completed-graph features (``ra_done``, ``cn_done``) cost, in one process.

    .venv/bin/python benchmarks/completion_cost.py [--datasets sx-askubuntu,ego-Facebook]
        [--batches 8,128] [--rounds 5] [--json benchmarks/out/completion_cost.json]

For each data set (its DESIGN §4 train part, snapshot at the end of train):

- *build*: :class:`~pymk.features.completion.CompletedGraph` of the snapshot graph — every user's
  ``ceil(deg/2)`` best ``ra`` guesses, then the completed graph — with the C kernels and with
  ``PYMK_NATIVE=0`` (SciPy), alternated ``--rounds`` times; wall seconds, medians and their ratio;
- *per query user*: the same users featurized (blocks → candidates → pair features, what training,
  batch and real-time scoring run) by a scorer without the completed graph and one with it, alternated
  ``--rounds`` times; CPU milliseconds per user (``time.process_time``, one thread) for the §4 query users
  (active users, large neighbourhoods) and for random known users (what a real-time request draws),
  medians and the ratio with/without.

Both scorers must yield the same candidates and the same other columns (checked). Writes the figures to
``--json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from native_kernels import end_of_train, featurize, native, write_results  # noqa: E402
from pymk.candidates.sources import CandidateGenerator  # noqa: E402
from pymk.features.completion import COMPLETION_FEATURES, CompletedGraph, CompletionConfig  # noqa: E402
from pymk.features.pairs import PairScorer  # noqa: E402

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--datasets", default="sx-askubuntu,ego-Facebook")
    parser.add_argument("--batches", default="8,128")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, default=HERE / "out" / "completion_cost.json")
    args = parser.parse_args()
    results: dict[str, Any] = {"load_average_start": os.getloadavg()}
    k = len(COMPLETION_FEATURES)
    for name in args.datasets.split(","):
        split, snap = end_of_train(name)
        build: dict[str, list[float]] = {"native": [], "scipy": []}
        for _ in range(args.rounds):
            for arm in build:
                with native(arm == "native"):
                    start = time.perf_counter()
                    CompletedGraph(snap.adjacency)
                    build[arm].append(time.perf_counter() - start)
        med = {arm: float(np.median(v)) for arm, v in build.items()}
        out: dict[str, Any] = {
            "users": snap.n_users,
            "edges": int(snap.adjacency.nnz // 2),
            "build_s": {arm: [round(x, 3) for x in v] for arm, v in build.items()},
            "build_median_s": {arm: round(x, 3) for arm, x in med.items()},
            "build_ratio_scipy_native": round(med["scipy"] / max(med["native"], 1e-9), 1),
        }
        print(
            f"{name:<13} build: native {med['native']:.3f} s  scipy {med['scipy']:.3f} s  "
            f"ratio {out['build_ratio_scipy_native']}",
            flush=True,
        )
        scorers = {
            "without": PairScorer(snap),
            "with": PairScorer(snap, completion=CompletionConfig()),
        }
        generator = CandidateGenerator(snap, kernels=scorers["without"].native)
        rng = np.random.default_rng(0)
        pools = {
            "query": split.query_users.astype(np.int64),
            "random": rng.permutation(np.flatnonzero(snap.known)).astype(np.int64),
        }
        for pool, users_all in pools.items():
            for size in (int(b) for b in args.batches.split(",")):
                ms: dict[str, list[float]] = {"without": [], "with": []}
                for r in range(args.rounds):
                    users = users_all[r * size : (r + 1) * size]
                    got = {}
                    for arm, scorer in scorers.items():
                        seconds, _, got[arm] = featurize(scorer, generator, users)
                        ms[arm].append(1e3 * seconds / users.shape[0])
                    np.testing.assert_array_equal(got["with"][:, :-k], got["without"][:, :-k])
                m = {arm: float(np.median(v)) for arm, v in ms.items()}
                ratio = m["with"] / max(m["without"], 1e-9)
                out[f"{pool}_batch_{size}"] = {
                    "ms_per_user": {arm: [round(x, 3) for x in v] for arm, v in ms.items()},
                    "median_ms_per_user": {arm: round(x, 3) for arm, x in m.items()},
                    "ratio_with_without": round(ratio, 2),
                }
                print(
                    f"{name:<13} {pool:<6} batch {size:>4}: without {m['without']:7.3f} ms/user  with "
                    f"{m['with']:7.3f} ms/user  ratio {ratio:5.2f}  (medians of {args.rounds})",
                    flush=True,
                )
        results[name] = out
    write_results(results, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
