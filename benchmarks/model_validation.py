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
from collections.abc import Iterator
from pathlib import Path

from model_quality import cli, dataset_file
from pymk.evaluation.protocol import Interactions, Split, load_interactions, split_interactions
from pymk.events.ids import IdMap
from pymk.io.formats import Format

HERE = Path(__file__).resolve().parent


#: The tail fold's inner test: this share of the train rows, the last ones (depth 0).
TAIL_FRACTION = 0.1


def inner_split(split: Split, static: bool, test_fraction: float | None = None) -> Split:
    """The §4 split of ``split``'s train rows (in their train order), as if they were the whole file
    (``test_fraction``: the inner test's share, by default the outer split's)."""
    ids = IdMap(split.user_ids)
    inter = Interactions(split.train_src, split.train_dst, split.train_ts, ids, static)
    fraction = split.test_fraction if test_fraction is None else test_fraction
    return split_interactions(inter, test_fraction=fraction, seed=split.seed)


def add_depth_argument(parser: argparse.ArgumentParser) -> None:
    """``--depth`` (int, 0-3, default 1) of the validation scripts: how many times :func:`validation_split`
    applies the §4 split to the train part (0: the tail fold)."""
    parser.add_argument(
        "--depth",
        type=int,
        default=1,
        choices=(0, 1, 2, 3),
        help="how many times the §4 split is applied to the train part (1: inner train = first 64 %% of "
        "the rows, inner test = 64-80 %%; 2: 51.2 %% / 51.2-64 %%; 3: 41 %% / 41-51 %%; folds 2 and 3 are "
        "earlier ones no default was chosen on); 0: the tail fold, inner train = first 72 %%, inner test = "
        "72-80 %%, the train part's most recent tenth",
    )


def validation_split(path: Path, fmt: Format, depth: int = 1) -> Split:
    """The inner split of one data set's §4 train part; with ``depth`` > 1 the inner split of that
    inner split's train part, and so on; ``depth`` 0: the tail fold, whose inner test is the last
    :data:`TAIL_FRACTION` of the train rows."""
    if depth < 0:
        raise ValueError(f"depth must be at least 0, got {depth}")
    inter = load_interactions(path, fmt)
    split = split_interactions(inter)
    if depth == 0:
        return inner_split(split, inter.static, TAIL_FRACTION)
    for _ in range(depth):
        split = inner_split(split, inter.static)
    return split


def validation_splits(datasets: str, depth: int = 1) -> Iterator[tuple[str, Split]]:
    """``(name, inner split)`` of each comma-separated data set whose file is here (``dataset_file`` notes
    and skips a missing one), at ``depth`` (:func:`validation_split`)."""
    for name in datasets.split(","):
        found = dataset_file(name)
        if found is not None:
            yield name, validation_split(*found, depth=depth)


def main() -> int:
    out = HERE / "out" / "model_validation.json"
    return cli(__doc__, "CollegeMsg,bitcoin-otc,ego-Facebook", out, validation_split)


if __name__ == "__main__":
    raise SystemExit(main())
