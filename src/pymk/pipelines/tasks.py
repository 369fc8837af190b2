"""Prefect tasks: thin wrappers of the use cases ``pymk train``, ``pymk batch``, ``pymk models`` and
``pymk monitor`` call.

Tasks that talk to stores (event log, registry, list store: Redis in production) retry; training does
not (a failure there is data or code, and a retry would register a second version). No task caches its
result across runs: each reads state that moves (the home's data, the registry's active pointer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE

from pymk.config import Settings
from pymk.models.pipeline import PipelineConfig
from pymk.monitoring.monitor import DriftReport, run_monitor
from pymk.pipelines.alerts import post_json
from pymk.registry import GateRefused, check_gate, open_registry
from pymk.serving.batch import BatchRun, precompute, run_batch
from pymk.serving.bootstrap import load_model
from pymk.serving.lists import ListsInfo
from pymk.stores import list_store
from pymk.training.homedata import all_rows, data_fingerprint, home_interactions
from pymk.training.train import TrainResult, train_home

#: Retries of the tasks that read or write stores (a Redis or PostgreSQL blip should not fail a run).
RETRIES, RETRY_DELAY_S = 2, 5


@dataclass(frozen=True)
class Snapshot:
    """The data a training would fit on: its fingerprint (as a version's manifest records it) and size."""

    fingerprint: str
    rows: int
    users: int
    active_fingerprint: str | None


@task(name="snapshot-data", retries=RETRIES, retry_delay_seconds=RETRY_DELAY_S, cache_policy=NO_CACHE)
def snapshot_data(settings: Settings) -> Snapshot:
    """Fingerprint the home's interactions, next to the active version's, to tell whether anything is new."""
    inter = home_interactions(settings.home, settings.seed)
    rows = all_rows(inter)
    fingerprint = data_fingerprint(rows, inter.ids.decode(range(rows.n_users)))
    active = open_registry(settings).active()
    return Snapshot(
        fingerprint, len(rows), rows.n_users, None if active is None else active.manifest.data_fingerprint
    )


@task(name="train", cache_policy=NO_CACHE)
def train_candidate(settings: Settings, config: PipelineConfig, holdout_fraction: float) -> TrainResult:
    """``pymk train --no-promote``: holdout metrics, refit on all rows, tracked run, registered version."""
    return train_home(settings, config=config, holdout_fraction=holdout_fraction, promote=False)


@task(name="gate", cache_policy=NO_CACHE)
def gate(settings: Settings, version: str) -> str | None:
    """None when ``version`` may replace the active one on the gate metric, else why not."""
    registry = open_registry(settings)
    active = registry.active()
    try:
        check_gate(
            registry.get(version).manifest,
            None if active is None else active.manifest,
            settings.gate_metric,
            settings.gate_tolerance,
        )
    except GateRefused as refused:
        return refused.message
    return None


@task(name="precompute-candidate", retries=RETRIES, retry_delay_seconds=RETRY_DELAY_S, cache_policy=NO_CACHE)
def precompute_candidate(settings: Settings, version: str, k: int) -> ListsInfo:
    """Every (not deleted) user's top-``k`` by ``version`` into the list store, before it is promoted.

    In one process (``pymk batch`` shards over processes but serves the active version only): servers
    answer in real time while the stored lists are of another version, so precomputing first leaves
    that window at the promote's length instead of the whole batch's.
    """
    model = load_model(settings, version)
    users = np.fromiter(sorted(model.index.values()), dtype=np.int64, count=len(model.index))
    store = list_store(settings)
    try:
        return precompute(model.recommender, store, model.user_ids, k=k, users=users)
    finally:
        store.close()


@task(name="promote", retries=RETRIES, retry_delay_seconds=RETRY_DELAY_S, cache_policy=NO_CACHE)
def promote(settings: Settings, version: str) -> None:
    """``pymk models promote VERSION`` (the gate is checked again under the registry's lock)."""
    open_registry(settings).promote(version)


@task(name="batch-precompute", retries=RETRIES, retry_delay_seconds=RETRY_DELAY_S, cache_policy=NO_CACHE)
def batch_active(settings: Settings, k: int, workers: int | None) -> BatchRun:
    """``pymk batch``: the active version's lists for every user, sharded over ``workers`` processes."""
    return run_batch(settings, k=k, workers=workers)


@task(name="drift-check", cache_policy=NO_CACHE)
def check_drift(settings: Settings, version: str | None, window: str | None) -> DriftReport:
    """``pymk monitor``'s drift check (:func:`~pymk.monitoring.monitor.run_monitor`), recorded under
    ``PYMK_HOME/monitoring`` as the CLI records it. No retries: it reads local files, and what fails
    there (no model, no profile, a bad window) fails again."""
    return run_monitor(settings, version=version, window=window)


@task(name="send-alert", retries=RETRIES, retry_delay_seconds=RETRY_DELAY_S, cache_policy=NO_CACHE)
def send_alert(url: str, alert: dict[str, Any]) -> int:
    """POST ``alert`` to ``url`` (:func:`pymk.pipelines.alerts.post_json`); returns the HTTP status."""
    return post_json(url, alert)
