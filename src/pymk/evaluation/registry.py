"""The models ``pymk evaluate --models`` knows by name."""

from __future__ import annotations

from pymk.evaluation.baselines import AdamicAdar, CommonNeighbours, Popularity, Recent, ResourceAllocation
from pymk.evaluation.model import ModelRegistry
from pymk.evaluation.ppr import PersonalizedPageRank
from pymk.evaluation.pymk_model import PymkModel

#: The §4.7 baselines, in the order the report lists them.
BASELINES = ("popularity", "recent", "cn", "aa", "ra", "ppr")


def default_registry() -> ModelRegistry:
    """A registry with the six §4.7 baselines; ``pymk`` (the full pipeline) is announced as planned.

    The full pipeline plugs in with ``registry.register("pymk", factory)`` where ``factory()`` returns an
    object satisfying :class:`~pymk.evaluation.model.EvalModel`.
    """
    registry = ModelRegistry()
    registry.register("popularity", Popularity)
    registry.register("recent", Recent)
    registry.register("cn", CommonNeighbours)
    registry.register("aa", AdamicAdar)
    registry.register("ra", ResourceAllocation)
    registry.register("ppr", PersonalizedPageRank)
    registry.register("pymk", PymkModel)
    return registry
