"""Batch precompute: a recommender's top-k for many users, written to a precomputed-list store.

:func:`precompute` fills a store from any :class:`Recommender` in this process; :func:`run_batch` is
``pymk batch``: the registry's active version, sharded over processes, into the configured store.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pymk.config import Settings
from pymk.errors import BundleError, InvalidInput, PymkError
from pymk.io.graph_apply import load_graph
from pymk.models.bundle import USERS_FILE, read_bundle_info
from pymk.registry import open_registry
from pymk.serving.bootstrap import load_model
from pymk.serving.lifecycle import LoadedModel
from pymk.serving.lists import ListsInfo, ListStore, ListWriter
from pymk.serving.recommender import MAX_K, Recommender, TopK
from pymk.stores import list_store


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


@dataclass(frozen=True)
class BatchRun:
    """What :func:`run_batch` did: the model version, users written, list width, seconds per phase."""

    info: ListsInfo
    workers: int
    load_seconds: float
    seconds: float


class NoActiveModel(PymkError):
    """``pymk batch`` needs an active model version."""

    http_status = 409
    grpc_code = "FAILED_PRECONDITION"
    exit_code = 2


_worker: tuple[LoadedModel, float] | None = None  # in a worker process: its model, seconds to load it

Scored = tuple[np.ndarray, TopK, float, float]
"""A chunk's users, their lists, the ``computed_at`` stamp and the seconds its worker took to load."""


def _init_worker(settings: Settings, version: str) -> None:
    global _worker
    started = time.perf_counter()
    model = load_model(settings, version)
    _worker = (model, time.perf_counter() - started)


def _score(users: np.ndarray, k: int) -> Scored:
    assert _worker is not None, "worker not initialised"
    model, load_s = _worker
    return users, model.recommender.recommend(users, k), model.as_of, load_s


def run_batch(
    settings: Settings,
    *,
    k: int = 50,
    workers: int | None = None,
    chunk: int = 512,
    users: Sequence[str] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> BatchRun:
    """Precompute the top-``k`` of every (not deleted) user with the registry's active version.

    ``users`` (external ids) limits the run to those users, e.g. a sample for timing at scale: repeats
    count once, deleted ones are skipped, an id the active version does not know raises
    :class:`InvalidInput` naming it; the committed snapshot then holds lists for those users only.

    Users are scored in chunks of ``chunk`` by ``workers`` processes (default: one per core), each loading
    the model once (:func:`~pymk.serving.bootstrap.load_model`: seconds to minutes, it rebuilds the
    scoring snapshot); this process writes what they return into the list store of ``settings`` and
    commits. A list's ``computed_at`` is when the graph state it excludes by was read (its worker's load).
    ``progress(phase, done, total)``: phase ``load`` once the first worker is loaded, then ``score``.
    """
    if not 1 <= k <= MAX_K:
        raise InvalidInput(f"k must be in 1..{MAX_K}, got {k}")
    active = open_registry(settings).active()
    if active is None:
        raise NoActiveModel("no active model version: run `pymk train` (or `pymk models promote`) first")
    user_ids = _bundle_user_ids(active.path)
    deleted = load_graph(settings.home).deleted_users()
    wanted = np.arange(len(user_ids), dtype=np.int64) if users is None else _indices(user_ids, users)
    todo = np.setdiff1d(wanted, deleted.astype(np.int64))
    chunks = [todo[lo : lo + chunk] for lo in range(0, todo.shape[0], chunk)]
    n = max(1, min(workers or os.cpu_count() or 1, len(chunks) or 1))
    report = progress or (lambda phase, done, total: None)
    started = time.perf_counter()
    store = list_store(settings)
    load_s = 0.0
    try:
        with store.writer(active.version, user_ids, k) as writer:
            if n == 1:
                model = load_model(settings, active.version)
                load_s = time.perf_counter() - started
                results: Iterable[Scored] = (
                    (c, model.recommender.recommend(c, k), model.as_of, load_s) for c in chunks
                )
                load_s = _write_all(writer, results, len(todo), report)
            else:
                context = multiprocessing.get_context("spawn")
                with ProcessPoolExecutor(
                    n, mp_context=context, initializer=_init_worker, initargs=(settings, active.version)
                ) as pool:
                    load_s = _write_all(
                        writer, pool.map(_score, chunks, [k] * len(chunks)), len(todo), report
                    )
            info = writer.commit()
    finally:
        store.close()
    return BatchRun(info, n, load_s, time.perf_counter() - started)


def _write_all(
    writer: ListWriter, results: Iterable[Scored], total: int, report: Callable[[str, int, int], None]
) -> float:
    """Write every result in order; the longest load time any worker reported."""
    done, load_s = 0, 0.0
    report("load", 0, 1)
    for users, top, computed_at, worker_load_s in results:
        if done == 0:
            report("load", 1, 1)
        load_s = max(load_s, worker_load_s)
        writer.write(users, top, computed_at)
        done += len(users)
        report("score", done, total)
    return load_s


def _indices(user_ids: Sequence[str], users: Sequence[str]) -> np.ndarray:
    """Sorted distinct internal indices of ``users``; :class:`InvalidInput` on an unknown id."""
    index = {u: i for i, u in enumerate(user_ids)}
    unknown = [u for u in users if u not in index]
    if unknown:
        raise InvalidInput(
            f"users: {len(unknown)} id(s) not in the active model version, e.g. {unknown[0]!r}"
        )
    return np.unique(np.fromiter((index[u] for u in users), dtype=np.int64, count=len(users)))


def _bundle_user_ids(path: Path) -> list[str]:
    """The external ids of a bundle's user indices, without loading its pipeline."""
    info = read_bundle_info(path)
    if not info.get("has_user_ids"):
        raise BundleError(f"model bundle {path} holds no user ids: retrain with `pymk train`")
    ids = json.loads((path / USERS_FILE).read_text())
    return [str(u) for u in ids]
