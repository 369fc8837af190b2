"""Batch precompute: a recommender's top-k for many users, written to a precomputed-list store."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from pymk.serving.lists import ListsInfo, ListStore
from pymk.serving.recommender import MAX_K, Recommender


def precompute(
    recommender: Recommender,
    store: ListStore,
    user_ids: Sequence[str],
    *,
    k: int = MAX_K,
    users: np.ndarray | None = None,
    batch_size: int = 2048,
    clock: Callable[[], float] = time.time,
    progress: Callable[[int], None] | None = None,
) -> ListsInfo:
    """Write the top-``k`` of ``users`` (default: every internal index of ``user_ids``) and commit.

    ``user_ids[i]`` is the external id of internal index ``i``. Each batch of ``batch_size`` users is
    stamped with the time it was scored; ``progress`` gets the number of users done after each batch.
    """
    todo = np.arange(len(user_ids), dtype=np.int64) if users is None else np.asarray(users, dtype=np.int64)
    with store.writer(recommender.model_version, user_ids, k) as writer:
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            writer.write(chunk, recommender.recommend(chunk, k), clock())
            if progress is not None:
                progress(len(chunk))
        return writer.commit()
