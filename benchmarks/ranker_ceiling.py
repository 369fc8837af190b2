"""How far the ranker could go on pymk's features: rankers trained on the validation target itself.

    .venv/bin/python benchmarks/ranker_ceiling.py --datasets CollegeMsg,ego-Facebook [--out JSON]

A diagnostic, never a model choice. Each data set's §4 train part is split again by §4 (as
``ranker_variants.py`` does) and the default pipeline is fitted on the inner train. Then the same
candidates and features of the inner query users are labelled with the inner truth, and both the query
users and the candidates are cut in random halves: a ranker trained (with the pipeline's negative
sampling and settings, early-stopped on a fifth of its query users) on the pairs of query half *i* and
candidate half *j* scores the pairs of the other query half and the other candidate half — four rankers,
no query user or candidate seen on both sides. That ranker learns the very distribution it is scored on,
which no model trained before the cut can, so the gap between its §4 metrics and the pipeline's bounds
what better *training data* could give on these features (on a quarter of the labels, so it is a
conservative bound; splitting the query users alone would let the rankers learn which candidates are
busy in the label period, which no model trained before the cut can know):

- a small gap: the features are the limit, and only new signal will help;
- a large gap: the labelled slices inside the train window differ from the target (a shift in time,
  density or regime), and how they are built is where to look.

Prints recall@20 / ndcg@20 of both; writes ``benchmarks/out/ranker_ceiling.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from model_quality import KS
from model_validation import validation_splits
from pymk.evaluation.graph import TrainGraph
from pymk.evaluation.metrics import Ranker as EvalRanker
from pymk.evaluation.protocol import Split
from pymk.evaluation.runner import evaluate_model
from pymk.features.pairs import PairBatch
from pymk.models.pipeline import PipelineConfig, PymkPipeline
from pymk.models.ranker import Examples
from pymk.models.training_set import sample_negatives
from ranker_variants import CachedScores, kept_fit, run_variant, write_results

HERE = Path(__file__).resolve().parent


def _examples(users: np.ndarray, x: np.ndarray, y: np.ndarray, negatives: int, seed: int) -> Examples:
    """Rows of ``users`` (sorted) with a positive, every positive and ``negatives`` sampled negatives."""
    hits = np.bincount(users, weights=y, minlength=int(users.max()) + 1)
    keep = (hits > 0)[users] & sample_negatives(users, y, negatives, np.random.default_rng(seed))
    sizes = np.bincount(users[keep])
    return Examples(x[keep], y[keep].astype(np.int32), sizes[sizes > 0].astype(np.int64))


def ceiling(split: Split, batches: list[PairBatch], backoff: np.ndarray, seed: int = 0) -> dict[str, float]:
    """§4 metrics of rankers trained on the target's own labels, each scoring query users and candidates
    it never saw (see the module docstring)."""
    n = split.n_users
    users = np.concatenate([pb.users[pb.rows] for pb in batches])
    cols = np.concatenate([pb.cols for pb in batches])
    x = np.concatenate([pb.features for pb in batches])
    owners = np.repeat(np.arange(n, dtype=np.int64), np.diff(split.truth_indptr))
    keys = np.sort(owners * n + split.truth_indices)
    pair = users * n + cols
    y = (keys[np.minimum(np.searchsorted(keys, pair), keys.shape[0] - 1)] == pair).astype(np.int32)
    rng = np.random.default_rng(seed)
    query_half, candidate_half = rng.integers(0, 2, n), rng.integers(0, 2, n)
    stop = rng.random(n) < 0.2  # within a training block: the early-stopping query users
    config = PipelineConfig()
    scores = np.zeros(users.shape[0])
    for i in (0, 1):
        for j in (0, 1):
            block = (query_half[users] == i) & (candidate_half[cols] == j)
            held = block & stop[users]
            fit = block & ~held
            pipe = PymkPipeline(config)
            valid = _examples(users[held], x[held], y[held], config.negatives, seed)
            train = _examples(users[fit], x[fit], y[fit], config.negatives, seed + 1)
            for ranker in pipe.rankers:
                ranker.fit(train, valid)
            pipe.fitted_ranker = True
            other = (query_half[users] != i) & (candidate_half[cols] != j)
            queried, rows = np.unique(users[other], return_inverse=True)
            scores[other] = pipe.rank(PairBatch(queried, rows, cols[other], x[other]))
    model = CachedScores(users, cols, scores, backoff)
    found = evaluate_model(split, model, KS, name="pymk", ranker=EvalRanker(TrainGraph.from_split(split)))
    return {m: round(found[m], 4) for m in ("recall@10", "recall@20", "recall@50", "ndcg@20")}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", default="CollegeMsg,bitcoin-otc,ego-Facebook")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "ranker_ceiling.json")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    for dataset, split in validation_splits(args.datasets):
        started = time.perf_counter()
        kept = kept_fit(split)
        pipeline = run_variant(split, kept, {}, 0)
        best = ceiling(split, kept[1], kept[2])
        results[dataset] = {"pipeline": pipeline, "ceiling": best}
        print(
            f"{dataset}: pipeline recall@20 / ndcg@20 {pipeline['recall@20']:.4f} / {pipeline['ndcg@20']:.4f}"
            f"  trained on the target {best['recall@20']:.4f} / {best['ndcg@20']:.4f}"
            f"  ({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
        write_results(args.out, results)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
