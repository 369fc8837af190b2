"""Applying imported events to the graph: the bulk build equals event-by-event application."""

from __future__ import annotations

import numpy as np
import pytest

from pymk.graph import NO_TS, GraphStore
from pymk.io.graph_apply import GraphUpdate, Op, graph_seconds

pytestmark = pytest.mark.unit


def stats(graph: GraphStore) -> dict[tuple[int, int], tuple[int, int, int]]:
    return {(u, v): graph.pair_stats(u, v) for u in range(graph.n_nodes) for v in graph.neighbors(u).tolist()}


@pytest.mark.parametrize("with_time", [True, False])
def test_bulk_build_equals_one_by_one(with_time: bool) -> None:
    rng = np.random.default_rng(7)
    src, dst = rng.integers(0, 40, 600), rng.integers(0, 40, 600)
    keep = src != dst
    src, dst = src[keep], dst[keep]
    ts = np.sort(rng.uniform(1e9, 1.1e9, src.size)) if with_time else np.full(src.size, np.nan)
    ops = np.full(src.size, Op.INTERACT)
    bulk, single = GraphUpdate(), GraphUpdate()
    bulk.add(ops, src, dst, ts)
    single.add(ops, src, dst, ts)
    built = bulk.apply(GraphStore(), 50)  # empty graph: one vectorised build
    seeded = GraphStore()
    seeded.ensure_nodes(1)  # not empty: event by event
    applied = single.apply(seeded, 50)
    assert built.n_nodes == applied.n_nodes == 50
    assert built.n_edges == applied.n_edges
    assert stats(built) == stats(applied)


def test_events_apply_in_order() -> None:
    update = GraphUpdate()
    update.add(
        [
            Op.INTERACT,
            Op.DISCONNECT,
            Op.INTERACT,
            Op.CONNECT,
            Op.BLOCK,
            Op.CONNECT,
            Op.UNBLOCK,
            Op.NODE,
            Op.DELETE,
        ],
        [0, 0, 1, 2, 3, 4, 3, 9, 5],
        [1, 1, 0, 3, 4, 3, 4, -1, -1],
        [10, 20, 30, 40, 50, 60, 70, 80, 90],
    )
    graph = update.apply(GraphStore(), 10)
    assert graph.n_nodes == 10
    assert not graph.has_edge(0, 1) and graph.pair_stats(0, 1) == (
        1,
        1,
        30,
    )  # no reconnect after a disconnect
    assert graph.has_edge(2, 3)
    assert not graph.has_edge(3, 4) and not graph.is_blocked(3, 4)  # connect refused while blocked
    assert graph.is_deleted(5)


def test_graph_seconds() -> None:
    assert graph_seconds(np.array([1.9, np.nan, 0.0])).tolist() == [1, NO_TS, 0]
