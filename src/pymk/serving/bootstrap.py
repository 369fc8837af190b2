"""Composition root of a serving process: the service built from settings (lists, models, fresh state).

The HTTP workers and the gRPC process each call :func:`build_service` once: it opens the list store,
loads the registry's active version (and the A/B challenger) and keeps following the registry and, with
a shared (``redis://``) online store, its graph-delta log (:mod:`pymk.serving.follow`); with
``snapshot_refresh_s`` set, it re-states the loaded versions on the home's data as it grows
(:mod:`pymk.serving.refresh`). Each HTTP worker also gets an :func:`build_intake` for
``POST /v1/events``.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import numpy as np

from pymk.config import Settings
from pymk.errors import BundleError
from pymk.events.validation import Limits
from pymk.io.graph_apply import load_graph
from pymk.models.bundle import GNN_FILE, load_bundle
from pymk.registry import open_registry
from pymk.serving.coldstart import popular_for_known
from pymk.serving.exclusions import MemoryExclusions
from pymk.serving.follow import DeltaFollower
from pymk.serving.intake import EventIntake
from pymk.serving.lifecycle import LoadedModel, ModelSlot
from pymk.serving.model import GraphExclusions, ModelRecommender
from pymk.serving.refresh import SnapshotBase, SnapshotRefresher
from pymk.serving.service import RecommendationService
from pymk.stores import list_store


def load_model(settings: Settings, version: str) -> LoadedModel:
    """Registry version ``version`` ready to score, excluding what the home's graph forbids now.

    Loading rebuilds the scoring snapshot from the bundle's rows (PPR, spectral embeddings and, when
    the pipeline config has them, LightGCN embeddings are refitted): seconds to minutes by data size.
    """
    path = open_registry(settings).get(version).path
    bundle = load_bundle(path)
    if bundle.user_ids is None:
        raise BundleError(f"model version {version} holds no user ids: retrain with `pymk train`")
    as_of = time.time()
    exclusions = GraphExclusions.from_graph(load_graph(settings.home), len(bundle.user_ids))
    index = {u: i for i, u in enumerate(bundle.user_ids) if not exclusions.deleted[i]}  # deleted: no list
    recommender = ModelRecommender(bundle.pipeline, version, exclusions)
    gnn = np.load(path / GNN_FILE) if bundle.info.get("has_gnn") else None
    base = SnapshotBase(bundle.pipeline, bundle.user_ids, gnn)
    return LoadedModel(version, recommender, bundle.user_ids, as_of, index, rows=len(bundle.rows), base=base)


def model_slot(settings: Settings) -> ModelSlot:
    """A slot following the registry under ``settings.home`` (not started)."""
    registry = open_registry(settings)

    def active() -> str | None:
        current = registry.active()
        return None if current is None else current.version

    return ModelSlot(
        active,
        lambda version: load_model(settings, version),
        ab_version=settings.ab_version,
        ab_share=settings.ab_share,
        poll_s=settings.model_poll_s,
    )


def follower(settings: Settings, exclusions: MemoryExclusions) -> DeltaFollower | None:
    """A follower of the online store's delta log, caught up and started; None for ``memory://``
    (an in-process store of another process holds nothing this one could read)."""
    if urlsplit(settings.online_url).scheme.lower() == "memory":
        return None
    from pymk.online import open_online

    online = open_online(settings.online_url)
    return DeltaFollower(online, exclusions, interval_s=settings.follow_interval_ms / 1000.0).start()


def build_service(settings: Settings) -> RecommendationService:
    """The request path of ``settings``: its lists, its models (loaded now, then followed), fresh graph
    changes from the online store, and cold-start lists for users first seen there."""
    return build_serving(settings)[0]


def build_serving(settings: Settings) -> tuple[RecommendationService, DeltaFollower | None]:
    """:func:`build_service` and the delta follower it started (None for a ``memory://`` online store),
    for an entrypoint that reports the follower's progress (the operator console)."""
    exclusions = MemoryExclusions()
    follow = follower(settings, exclusions)
    slot = model_slot(settings).start()
    closers = [] if follow is None else [follow.close]
    if settings.snapshot_refresh_s > 0:
        refresher = SnapshotRefresher(slot, settings.home, settings.snapshot_refresh_s, seed=settings.seed)
        closers.append(refresher.start().close)
    service = RecommendationService(
        list_store(settings),
        models=slot,
        exclusions=exclusions,
        mode=settings.serving_mode,
        budget_s=settings.realtime_budget_ms / 1000.0,
        realtime_batch=settings.realtime_batch,
        cold_start=None if follow is None else popular_for_known(slot, follow.knows),
        closers=closers,
    )
    return service, follow


def build_intake(settings: Settings) -> EventIntake:
    """``POST /v1/events`` of ``settings``: its event stream and dead-letter store (opened on first use)."""
    from pymk.stores import deadletter_store
    from pymk.stream import open_sink

    return EventIntake(
        lambda: open_sink(settings.resolve(settings.events_url)),
        lambda: deadletter_store(settings),
        Limits(settings.max_id_length, settings.max_props_bytes),
    )
