"""``pymk batch --engine ray``: the batch precompute sharded over a Ray cluster.

The same work as :func:`pymk.serving.batch.run_batch`, and the same result list for list: the active
version is loaded **once**, on the driver (:func:`~pymk.serving.bootstrap.load_model`: the expensive
scoring snapshot), put in Ray's object store, and shared by ``workers`` actors (NumPy arrays are read
from shared memory, not copied per worker); users not deleted are cut into the same chunks, scored by
the actors, and written by the driver in chunk order into the configured list store.

``address=None`` starts a local Ray instance for the run (``ray.init()``) and stops it after; ``"auto"``
or ``ray://host:10001`` joins a running cluster. Its nodes need no ``PYMK_HOME``: the model travels in
the object store and the driver writes the lists.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from pymk.config import Settings
from pymk.errors import InvalidInput
from pymk.registry import open_registry
from pymk.serving.batch import BatchRun, NoActiveModel
from pymk.serving.bootstrap import load_model
from pymk.serving.lifecycle import LoadedModel
from pymk.serving.recommender import MAX_K, TopK
from pymk.stores import list_store


class _Scorer:
    """A Ray actor's state: the shared loaded model."""

    def __init__(self, model: LoadedModel) -> None:
        self.model = model

    def score(self, users: np.ndarray, k: int) -> tuple[np.ndarray, TopK]:
        return users, self.model.recommender.recommend(users, k)


def run_batch_ray(
    settings: Settings,
    *,
    k: int = 50,
    workers: int | None = None,
    chunk: int = 512,
    address: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> BatchRun:
    """Precompute the top-``k`` of every (not deleted) user with the active version, on Ray.

    ``workers``: actors (default: the cluster's CPUs). ``progress(phase, done, total)`` as
    :func:`~pymk.serving.batch.run_batch`. Raises :class:`NoActiveModel` without an active version.
    """
    import ray
    from ray.util import ActorPool

    if not 1 <= k <= MAX_K:
        raise InvalidInput(f"k must be in 1..{MAX_K}, got {k}")
    active = open_registry(settings).active()
    if active is None:
        raise NoActiveModel("no active model version: run `pymk train` (or `pymk models promote`) first")
    report = progress or (lambda phase, done, total: None)
    started = time.perf_counter()
    report("load", 0, 1)
    model = load_model(settings, active.version)
    load_s = time.perf_counter() - started
    report("load", 1, 1)
    todo = np.fromiter(sorted(model.index.values()), dtype=np.int64, count=len(model.index))
    chunks = [todo[lo : lo + chunk] for lo in range(0, todo.shape[0], chunk)]
    own_cluster = address is None and not ray.is_initialized()
    if own_cluster:
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    elif not ray.is_initialized():
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    store = list_store(settings)
    try:
        resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
        n = max(1, min(workers or int(resources.get("CPU", 1)), len(chunks) or 1))
        shared = ray.put(model)
        actor = ray.remote(num_cpus=1)(_Scorer)
        pool = ActorPool([actor.remote(shared) for _ in range(n)])
        scored: Iterator[Any] = pool.map(lambda a, users: a.score.remote(users, k), chunks)
        with store.writer(active.version, model.user_ids, k) as writer:
            done = 0
            for users, top in scored:
                writer.write(users, top, model.as_of)
                done += len(users)
                report("score", done, len(todo))
            info = writer.commit()
    finally:
        store.close()
        if own_cluster:
            ray.shutdown()
    return BatchRun(info, n, load_s, time.perf_counter() - started)
