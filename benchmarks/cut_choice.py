"""Validation of a per-data-set choice of the training slices' cut set, made inside the rows being fitted.

    .venv/bin/python benchmarks/cut_choice.py --datasets CollegeMsg,bitcoin-otc --seeds 0,1,2 [--depth 2] \\
        [--alt 0.55,0.8] [--z 2] [--decide-only] [--out JSON]

The slice cuts (``PipelineConfig.cuts``, default (0.6, 0.8)) move single data sets by several points
(benchmarks/RESULTS.md, "where the training slices start"), in opposite directions on different sets, so
one fixed set cannot serve all. This tool asks whether the choice can be made per data set, on its own
train rows, with one default procedure: :class:`ChoosingPipeline` fits the whole pipeline once per cut set
(the default and ``--alt``) on the rows before the last cut and scores each on the new pairs of the rows
after it (DESIGN §4 inside the rows given to ``fit``: recall@20, self and existing partners excluded, up
to 5,000 query users), then fits the winner on all the rows. Without ``--z`` the higher recall wins;
with it, the alternative must beat the default by more than ``z`` standard errors of the paired per-user
difference.

The pipelines are compared as ``pipeline_variants.py`` compares variants (the §4 train part split again,
``--depth`` times; rankers retrained per seed on the kept slices): ``default`` (the fixed cuts) against
``choose`` (and ``choose_z`` with ``--z``). ``--decide-only`` prints each data set's choice and the
recall of every cut set, without scoring the outer fold. Writes ``benchmarks/out/cut_choice.json``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from model_validation import add_depth_argument, validation_splits
from pymk.features.rows import Rows
from pymk.features.snapshot import Snapshot, build_snapshot
from pymk.models.pipeline import PipelineConfig, PymkPipeline
from pymk.models.ranker import Examples
from pymk.models.training_set import new_pair_keys
from ranker_variants import compare_pipelines

HERE = Path(__file__).resolve().parent
#: The recall cut-off of the choice (DESIGN §4's headline k) and the most query users it samples.
K = 20
USERS = 5000


def choosing(alt: tuple[float, ...], z: float | None) -> type[PymkPipeline]:
    """A :class:`PymkPipeline` that chooses between its config's cuts and ``alt`` (rule ``z``) per fit."""

    class ChoosingPipeline(PymkPipeline):
        def training_slices(self, rows: Rows) -> list[Examples]:
            if rows.timed:
                cuts, found = choose_cuts(self.config, rows, alt, z)
                print(f"  cut set chosen inside the train window: {cuts} {found}", flush=True)
                self.config = replace(self.config, cuts=cuts)
            return super().training_slices(rows)

    return ChoosingPipeline


def choose_cuts(
    config: PipelineConfig, rows: Rows, alt: tuple[float, ...], z: float | None
) -> tuple[tuple[float, ...], dict[str, float]]:
    """The cut set to fit on ``rows`` (``config.cuts`` or ``alt``) and what chose it: each one's recall@20
    on the rows after ``config.cuts[-1]`` (the pipeline fitted on the rows before), the paired z of the
    alternative's gain, the choice."""
    t = rows.quantile_time(config.cuts[-1])
    inner = rows.before(t)
    snap = build_snapshot(rows, t)
    keys = new_pair_keys(rows, snap, rows.end_time())
    n = np.int64(rows.n_users)
    users = np.unique(keys // n)
    if users.shape[0] < 2 or not len(inner):
        return config.cuts, {}
    if users.shape[0] > USERS:
        users = np.sort(np.random.default_rng(config.seed).choice(users, USERS, replace=False))
    partners = np.bincount(keys // n, minlength=rows.n_users)[users].astype(np.float64)
    recalls = []
    for cuts in (config.cuts, alt):
        pipe = PymkPipeline(replace(config, cuts=cuts))
        pipe.fit(inner)
        recalls.append(hits(pipe, snap, keys, users) / partners)
    diff = recalls[1] - recalls[0]
    gain_z = float(diff.mean() / max(float(diff.std(ddof=1)) / np.sqrt(diff.shape[0]), 1e-12))
    wins = gain_z > z if z is not None else diff.mean() > 0
    found = {
        "recall_default": round(float(recalls[0].mean()), 4),
        "recall_alt": round(float(recalls[1].mean()), 4),
    }
    found |= {"z": round(gain_z, 2), "alt": float(wins)}
    return (alt if wins else config.cuts), found


def hits(pipe: PymkPipeline, snap: Snapshot, keys: np.ndarray, users: np.ndarray) -> np.ndarray:
    """float64 ``(len(users),)``: how many of each user's :data:`K` best-scored others (self and
    ``snap``'s partners excluded) are among ``keys`` (sorted ``u * n + v``, :func:`new_pair_keys`).

    Ties fall as ``argpartition`` leaves them, not in §4's degree order (``pymk.evaluation.metrics``):
    the figures in benchmarks/RESULTS.md were measured so; §4's order gave CollegeMsg's fold-1 choice
    .2057 / .2195 (z 1.42) against .1961 / .2073 (z 1.09), the same choice."""
    n = np.int64(snap.n_users)
    k = min(K, snap.n_users)
    out = np.zeros(users.shape[0])
    for lo in range(0, users.shape[0], pipe.config.batch):
        batch = users[lo : lo + pipe.config.batch]
        scores = pipe.score(batch)
        sub = snap.adjacency[batch]
        scores[np.repeat(np.arange(batch.shape[0]), np.diff(sub.indptr)), sub.indices] = -np.inf
        scores[np.arange(batch.shape[0]), batch] = -np.inf
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        out[lo : lo + batch.shape[0]] = np.isin(batch[:, None] * n + top, keys).sum(axis=1)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", default="CollegeMsg,bitcoin-otc")
    parser.add_argument("--seeds", default="0,1,2", help="ranker seeds, comma-separated")
    parser.add_argument(
        "--alt", default="0.55,0.8", help="the alternative cut set (ends at the default's last)"
    )
    parser.add_argument("--z", type=float, default=None, help="also run the paired rule with this z")
    parser.add_argument("--decide-only", action="store_true", help="print the choices; score nothing else")
    add_depth_argument(parser)
    parser.add_argument("--out", type=Path, default=HERE / "out" / "cut_choice.json")
    args = parser.parse_args()
    alt = tuple(float(q) for q in args.alt.split(","))
    if alt[-1] != PipelineConfig().cuts[-1]:
        parser.error(f"--alt must end at {PipelineConfig().cuts[-1]}")
    if args.decide_only:
        for dataset, split in validation_splits(args.datasets, args.depth):
            started = time.perf_counter()
            cuts, found = choose_cuts(PipelineConfig(), Rows.from_split(split), alt, args.z)
            print(f"{dataset} depth {args.depth}: {cuts} {found} ({time.perf_counter() - started:.0f} s)")
        return 0
    pipelines = {"default": PymkPipeline, "choose": choosing(alt, None)}
    if args.z is not None:
        pipelines[f"choose_z{args.z:g}"] = choosing(alt, args.z)
    seeds = [int(s) for s in args.seeds.split(",")]
    compare_pipelines(args.datasets, pipelines, seeds, args.out, args.depth)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
