"""Synthetic social network and activity stream: the demo's data and the load generator.

Public API::

    result = simulate(SimConfig(users=20_000, seed=0))   # columns, ordered by ts
    write_jsonl(result, Path("events.jsonl.gz"))         # or write_parquet / write_events
    table = result.to_arrow()                            # event_id, ts, type, actor, target, props

:func:`~pymk.sim.shape.graph_shape` measures how social the output looks (see :mod:`pymk.sim.shape`).
"""

from pymk.sim.config import CommunityKind, SimConfig
from pymk.sim.engine import ProgressCallback, simulate
from pymk.sim.result import SCHEMA, SimResult
from pymk.sim.writers import OutputFormat, write_events, write_jsonl, write_parquet

__all__ = [
    "SCHEMA",
    "CommunityKind",
    "OutputFormat",
    "ProgressCallback",
    "SimConfig",
    "SimResult",
    "simulate",
    "write_events",
    "write_jsonl",
    "write_parquet",
]
