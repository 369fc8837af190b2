"""Run models through the DESIGN §4 protocol and collect the §4 JSON result.

``evaluate`` fits each model on the split, scores the query users in batches of bounded memory, masks
and ranks with :class:`~pymk.evaluation.metrics.Ranker`, and averages recall@k / ndcg@k.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from pymk.errors import InvalidInput
from pymk.evaluation.graph import TrainGraph
from pymk.evaluation.metrics import MetricSums, Ranker
from pymk.evaluation.model import EvalModel
from pymk.evaluation.protocol import Split

#: Upper bound on one batch's float32 score block, in bytes.
BATCH_BYTES = 256 * 2**20

#: ``progress(model_name, users_done, users_total)``, called after every batch and once at 0.
Progress = Callable[[str, int, int], None]


def dataset_summary(split: Split) -> dict[str, int]:
    """The §4 ``dataset`` object: users, train_pairs, query_users, truth_pairs."""
    return {
        "users": split.n_users,
        "train_pairs": int(split.pair_u.shape[0]),
        "query_users": int(split.query_users.shape[0]),
        "truth_pairs": split.truth_pairs,
    }


def batch_size(n_users: int, n_query: int, batch_bytes: int = BATCH_BYTES) -> int:
    """Query users per batch so that a float32 ``(batch, n_users)`` block fits ``batch_bytes``."""
    return max(1, min(n_query, batch_bytes // (4 * max(1, n_users))))


def evaluate_model(
    split: Split,
    model: EvalModel,
    ks: Sequence[int],
    *,
    name: str = "model",
    ranker: Ranker | None = None,
    batch_bytes: int = BATCH_BYTES,
    progress: Progress | None = None,
) -> dict[str, float]:
    """Fit ``model`` on ``split``; return ``{"recall@k", "ndcg@k", ..., "fit_seconds", "score_seconds"}``.

    ``score_seconds`` is the wall time of the whole scoring pass (model scores, masking, ranking,
    metrics), i.e. what producing every query user's ranked list costs.
    """
    ranker = ranker if ranker is not None else Ranker(TrainGraph.from_split(split))
    queries = split.query_users
    total = int(queries.shape[0])
    width = max(ks)

    start = time.perf_counter()
    model.fit(split)
    fit_seconds = time.perf_counter() - start

    sums = MetricSums(split, ks)
    step = batch_size(split.n_users, total, batch_bytes)
    if progress is not None:
        progress(name, 0, total)
    start = time.perf_counter()
    for lo in range(0, total, step):
        users = queries[lo : lo + step]
        scores = np.asarray(model.score(users), dtype=np.float32)
        if scores.shape != (users.shape[0], split.n_users):
            raise ValueError(
                f"{name}.score returned shape {scores.shape}, want {(users.shape[0], split.n_users)}"
            )
        ranker.mask(users, scores)
        sums.add(users, ranker.top_k(scores, width))
        if progress is not None:
            progress(name, min(lo + step, total), total)
    score_seconds = time.perf_counter() - start

    result: dict[str, float] = dict(sums.means())
    result["fit_seconds"] = round(fit_seconds, 4)
    result["score_seconds"] = round(score_seconds, 4)
    return result


def evaluate(
    split: Split,
    models: Mapping[str, EvalModel],
    ks: Sequence[int],
    *,
    batch_bytes: int = BATCH_BYTES,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Evaluate every model of ``models`` (name → unfitted model) on ``split`` at each ``k`` of ``ks``.

    Returns the DESIGN §4 JSON object: ``{"dataset": {...}, "protocol": {"test_fraction", "seed"},
    "models": {name: {"recall@k": float, "ndcg@k": float, ..., "fit_seconds", "score_seconds"}}}``,
    metrics at full float precision, in ``ks`` order, models in ``models`` order.
    Raises :class:`InvalidInput` for an empty or non-positive ``ks`` or a split with no query users.
    """
    ks = list(dict.fromkeys(int(k) for k in ks))
    if not ks or min(ks) < 1:
        raise InvalidInput(f"k must be positive integers, got {ks}")
    if split.query_users.shape[0] == 0:
        raise InvalidInput("no query users: no test pair joins two train users that were not yet linked")
    ranker = Ranker(TrainGraph.from_split(split))
    results = {
        name: evaluate_model(
            split, model, ks, name=name, ranker=ranker, batch_bytes=batch_bytes, progress=progress
        )
        for name, model in models.items()
    }
    return {
        "dataset": dataset_summary(split),
        "protocol": {"test_fraction": split.test_fraction, "seed": split.seed},
        "models": results,
    }
