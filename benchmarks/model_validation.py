"""Validation inside the train window: where pymk's defaults are chosen, never on the test part.

    .venv/bin/python benchmarks/model_validation.py [--datasets CollegeMsg,...] [--models ...] [--out JSON]

For each data set the DESIGN §4 split is made, its test part is dropped, and the §4 split is applied
*again* to the train rows alone (train's first 80 % → inner train, the rest → inner test; static data are
re-shuffled with the same seed). Models are fitted on the inner train and scored on the inner truth, so a
choice made here has never seen a row of the real test part. Prints recall@10/20/50 and ndcg@20 per model
and pymk's ratio to the best baseline; writes ``benchmarks/out/model_validation.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from model_quality import datasets, ensure_simulation, print_table, run_split
from pymk.evaluation.protocol import Interactions, Split, load_interactions, split_interactions
from pymk.evaluation.registry import BASELINES
from pymk.events.ids import IdMap
from pymk.io.formats import Format

HERE = Path(__file__).resolve().parent


def inner_split(split: Split, static: bool) -> Split:
    """The §4 split of ``split``'s train rows (in their train order), as if they were the whole file."""
    ids = IdMap(split.user_ids)
    inter = Interactions(split.train_src, split.train_dst, split.train_ts, ids, static)
    return split_interactions(inter, test_fraction=split.test_fraction, seed=split.seed)


def validation_split(path: Path, fmt: Format) -> Split:
    """The inner split of one data set's §4 train part."""
    inter = load_interactions(path, fmt)
    return inner_split(split_interactions(inter), inter.static)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--datasets", default="CollegeMsg,bitcoin-otc,ego-Facebook")
    parser.add_argument("--models", default=",".join((*BASELINES, "pymk")))
    parser.add_argument("--out", type=Path, default=HERE / "out" / "model_validation.json")
    args = parser.parse_args()
    known = datasets()
    results: dict[str, Any] = {}
    for name in args.datasets.split(","):
        path, fmt = known[name]
        if fmt is Format.EVENTS_JSONL:
            ensure_simulation(path)
        print(f"{name} (validation inside train) ...", flush=True)
        results[name] = run_split(validation_split(path, fmt), args.models.split(","))
        print_table(name, results[name])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
