"""`pymk train` as benchmarks/scaling.py runs it: the same ``train_home``, holdout scored on a capped sample.

``pymk train`` scores every holdout query user against every user (dense, O(query users x users)): at 10k
simulated users that is 6.7k queries and about 100 s; at 1M it would take days. This driver runs the very
same ``train_home`` (read the event log, fit on the first 80 %, score the holdout, refit on all rows,
profile, save and register, promote) but keeps a seeded random sample of at most ``--max-queries`` query
users in the holdout split, so the holdout metrics are estimates over that sample; every fit is the full
one. Writes the train result plus the holdout's own fit and score seconds as JSON to ``--json``.

    PYMK_HOME=... .venv/bin/python benchmarks/_scaling_train.py --max-queries 500 --json out.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

import pymk.training.train as train_module
from pymk.config import load_settings
from pymk.evaluation.protocol import Split


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--max-queries", type=int, default=500, help="holdout query users scored (cap)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the query-user sample")
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()

    seen: dict[str, Any] = {}
    # The module's own names, replaced below so that train_home calls the wrappers.
    split_interactions = getattr(train_module, "split_interactions")  # noqa: B009
    evaluate = getattr(train_module, "evaluate")  # noqa: B009

    def capped_split(*a: Any, **kw: Any) -> Split:
        split = split_interactions(*a, **kw)
        queries = split.query_users
        seen["query_users_total"] = int(queries.shape[0])
        if queries.shape[0] > args.max_queries:
            rng = np.random.default_rng(args.seed)
            queries = np.sort(rng.choice(queries, size=args.max_queries, replace=False))
        seen["query_users_scored"] = int(queries.shape[0])
        capped: Split = dataclasses.replace(split, query_users=queries)
        return capped

    def timed_evaluate(*a: Any, **kw: Any) -> dict[str, Any]:
        result: dict[str, Any] = evaluate(*a, **kw)
        measured = next(iter(result["models"].values()))
        seen["holdout_fit_seconds"] = float(measured["fit_seconds"])
        seen["holdout_score_seconds"] = float(measured["score_seconds"])
        return result

    setattr(train_module, "split_interactions", capped_split)  # noqa: B010
    setattr(train_module, "evaluate", timed_evaluate)  # noqa: B010
    result = train_module.train_home(load_settings())
    report = {**result.to_dict(), **seen}
    args.json.write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps({k: report[k] for k in ("version", "rows", "users", "seconds", *seen)}, default=str))


if __name__ == "__main__":
    main()
