"""Composition root of a serving process: the service built from settings (lists, models, fresh state).

The HTTP workers and the gRPC process each call :func:`build_service` once: it opens the list store,
loads the registry's active version (and the A/B challenger) and keeps following the registry.
"""

from __future__ import annotations

import time

from pymk.config import Settings
from pymk.errors import BundleError
from pymk.io.graph_apply import load_graph
from pymk.models.bundle import load_bundle
from pymk.registry import open_registry
from pymk.serving.exclusions import MemoryExclusions
from pymk.serving.lifecycle import LoadedModel, ModelSlot
from pymk.serving.model import GraphExclusions, ModelRecommender
from pymk.serving.service import RecommendationService
from pymk.stores import list_store


def load_model(settings: Settings, version: str) -> LoadedModel:
    """Registry version ``version`` ready to score, excluding what the home's graph forbids now.

    Loading rebuilds the scoring snapshot from the bundle's rows (PPR, spectral embeddings and, when
    the pipeline config has them, LightGCN embeddings are refitted): seconds to minutes by data size.
    """
    bundle = load_bundle(open_registry(settings).get(version).path)
    if bundle.user_ids is None:
        raise BundleError(f"model version {version} holds no user ids: retrain with `pymk train`")
    as_of = time.time()
    exclusions = GraphExclusions.from_graph(load_graph(settings.home), len(bundle.user_ids))
    index = {u: i for i, u in enumerate(bundle.user_ids) if not exclusions.deleted[i]}  # deleted: no list
    recommender = ModelRecommender(bundle.pipeline, version, exclusions)
    return LoadedModel(version, recommender, bundle.user_ids, as_of, index)


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


def build_service(settings: Settings) -> RecommendationService:
    """The request path of ``settings``: its lists, its models (loaded now, then followed)."""
    return RecommendationService(
        list_store(settings),
        models=model_slot(settings).start(),
        exclusions=MemoryExclusions(),
        mode=settings.serving_mode,
        budget_s=settings.realtime_budget_ms / 1000.0,
    )
