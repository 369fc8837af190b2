"""GraphStore: each edit seen the same before and after compaction, stats, blocks, deletes, persistence."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pymk.graph import NO_TS, CSRGraph, GraphStore

pytestmark = pytest.mark.unit


def store_with_base() -> GraphStore:
    """0-1, 0-2, 1-2, 2-3 from interactions; 0 sent 1 two messages; node 4 isolated."""
    src, dst = [0, 0, 1, 0, 2, 1], [1, 1, 0, 2, 3, 2]
    return GraphStore.from_interactions(src, dst, [10, 12, 11, 5, 7, 8], n_nodes=5)


def row(s: GraphStore, u: int) -> list[int]:
    return [int(v) for v in s.neighbors(u)]


def both_ways(check: Callable[[GraphStore], None], s: GraphStore) -> None:
    """Run ``check`` on the overlay view, after compaction, and after a save/load-free snapshot."""
    check(s)
    s.compact()
    assert s.overlay_size == 0
    check(s)
    snap = s.snapshot()
    snap.validate()
    assert [snap.neighbors(u).tolist() for u in range(snap.n_nodes)] == [row(s, u) for u in range(s.n_nodes)]


def test_from_interactions_first_interaction_connects() -> None:
    s = store_with_base()
    assert [row(s, u) for u in range(5)] == [[1, 2], [0, 2], [0, 1, 3], [2], []]
    assert s.pair_stats(0, 1) == (2, 1, 12)
    assert s.pair_stats(1, 0) == (1, 2, 12)
    assert s.pair_stats(3, 2) == (0, 1, 7)
    assert s.pair_stats(0, 3) == (0, 0, NO_TS)
    assert s.pair_stats(2, 1) == (0, 1, 8)
    assert s.n_edges == 4


def test_connect_and_disconnect() -> None:
    s = store_with_base()
    assert s.connect(3, 4, ts=20)
    assert not s.connect(4, 3, ts=21)  # already connected: only refreshes last_ts
    assert s.disconnect(0, 1, ts=22)
    assert not s.disconnect(0, 1, ts=23)
    assert not s.connect(2, 2, ts=24)

    def check(s: GraphStore) -> None:
        assert row(s, 3) == [2, 4] and row(s, 4) == [3]
        assert row(s, 0) == [2] and not s.has_edge(1, 0)
        assert s.degree(3) == 2 and s.degrees().tolist() == [1, 1, 3, 2, 1]
        assert s.n_edges == 4
        assert s.pair_stats(3, 4) == (0, 0, 21)
        assert s.pair_stats(0, 1) == (2, 1, 12)  # stats survive a disconnect

    both_ways(check, s)


def test_reconnect_a_removed_base_edge() -> None:
    s = store_with_base()
    s.disconnect(1, 2, ts=1)
    assert s.connect(2, 1, ts=30)

    def check(s: GraphStore) -> None:
        assert row(s, 1) == [0, 2] and row(s, 2) == [0, 1, 3]
        assert s.pair_stats(1, 2) == (1, 0, 30)

    both_ways(check, s)


def test_interact_does_not_connect_and_accumulates() -> None:
    s = store_with_base()
    assert s.interact(0, 3, ts=40)
    assert s.interact(3, 0, ts=35, n=4)
    assert not s.interact(1, 1, ts=40)
    with pytest.raises(ValueError):
        s.interact(0, 3, ts=40, n=0)

    def check(s: GraphStore) -> None:
        assert not s.has_edge(0, 3)
        assert s.pair_stats(0, 3) == (1, 4, 40)
        assert s.pair_stats(3, 0) == (4, 1, 40)

    both_ways(check, s)
    s.interact(0, 3, ts=41)
    assert s.pair_stats(0, 3) == (2, 4, 41)  # compacted side table + overlay
    s.connect(0, 3, ts=42)  # the pair moves from the non-edge stats table to the edges with its stats

    def check_connected(s: GraphStore) -> None:
        assert s.has_edge(3, 0) and s.pair_stats(0, 3) == (2, 4, 42)

    both_ways(check_connected, s)


def test_block_unblock() -> None:
    s = store_with_base()
    assert s.block(0, 1, ts=50)
    assert not s.block(0, 1, ts=51)
    assert s.block(3, 0, ts=52)

    def check(s: GraphStore) -> None:
        assert not s.has_edge(0, 1)
        assert s.is_blocked(0, 1) and s.is_blocked(1, 0)
        assert s.blocked_by(0).tolist() == [1] and s.blockers_of(0).tolist() == [3]
        assert s.block_pairs().tolist() == [[0, 1], [3, 0]]
        assert not s.connect(1, 0, ts=53)  # refused either direction

    both_ways(check, s)
    assert s.unblock(0, 1, ts=54)
    assert not s.unblock(0, 1, ts=55)
    assert not s.is_blocked(1, 0)
    assert not s.has_edge(0, 1)  # unblocking does not restore the edge
    assert s.connect(1, 0, ts=56)


def test_delete_user_purges_and_is_final() -> None:
    s = store_with_base()
    s.block(4, 2, ts=1)
    s.interact(2, 4, ts=2)
    assert s.delete_user(2, ts=60)
    assert not s.delete_user(2, ts=61)

    def check(s: GraphStore) -> None:
        assert s.is_deleted(2) and s.deleted_users().tolist() == [2]
        assert row(s, 2) == [] and row(s, 0) == [1] and row(s, 3) == []
        assert s.degrees().tolist() == [1, 1, 0, 0, 0]
        assert s.pair_stats(0, 2) == (0, 0, NO_TS) and s.pair_stats(4, 2) == (0, 0, NO_TS)
        assert not s.is_blocked(4, 2) and s.blocked_by(4).size == 0
        assert not s.connect(2, 3, ts=62) and not s.interact(3, 2, ts=62) and not s.block(2, 3, ts=62)
        assert s.n_nodes == 5

    both_ways(check, s)
    side_ids = s._side.indices.tolist()  # purged from the non-edge stats table too
    assert 2 not in side_ids


def test_nodes_grow_on_new_ids() -> None:
    s = GraphStore()
    assert s.n_nodes == 0 and s.neighbors(7).size == 0 and s.degree(7) == 0
    s.connect(2, 9, ts=1)
    assert s.n_nodes == 10
    s.ensure_nodes(12)
    s.ensure_nodes(3)
    assert s.n_nodes == 12 and s.degrees().shape == (12,)
    assert s.snapshot().n_nodes == 12
    with pytest.raises(ValueError):
        s.connect(-1, 2, ts=1)
    with pytest.raises(TypeError):
        s.connect(1, 2, ts=1.5)  # type: ignore[arg-type]


def test_automatic_compaction_past_threshold() -> None:
    s = GraphStore(CSRGraph.from_pairs([0], [1]), compact_threshold=5)
    s.connect(0, 2, ts=2)
    s.interact(0, 3, ts=3)
    s.interact(0, 3, ts=3)
    assert s.overlay_size == 3  # the edge and stats of 0-2, stats of 0-3
    s.connect(0, 4, ts=4)
    assert s.overlay_size == 5
    s.connect(0, 5, ts=5)
    assert s.overlay_size == 0 and s._base.n_edges == 4
    never = GraphStore(compact_threshold=None)
    for v in range(1, 50):
        never.connect(0, v, ts=v)
    assert never.overlay_size == 98 and never.n_edges == 49


def test_neighbors_merges_sorted_without_duplicates() -> None:
    s = GraphStore(CSRGraph.from_pairs([5, 5, 5], [1, 3, 8]), compact_threshold=None)
    s.connect(5, 9, ts=1)
    s.connect(5, 0, ts=1)
    s.connect(5, 4, ts=1)
    s.disconnect(5, 3, ts=1)
    out = s.neighbors(5)
    assert out.dtype == np.int32 and out.tolist() == [0, 1, 4, 8, 9]


@pytest.mark.parametrize("mmap", [True, False])
def test_save_load_round_trip(tmp_path: Path, mmap: bool) -> None:
    s = store_with_base()
    s.connect(3, 4, ts=70)
    s.interact(1, 3, ts=71, n=2)
    s.block(1, 0, ts=72)
    s.delete_user(2, ts=73)
    s.ensure_nodes(8)
    s.save(tmp_path / "g")
    t = GraphStore.load(tmp_path / "g", mmap=mmap)
    assert isinstance(t._base.indices, np.memmap) == mmap
    assert t.n_nodes == 8
    assert [row(t, u) for u in range(8)] == [row(s, u) for u in range(8)]
    assert t.pair_stats(1, 3) == (2, 0, 71) and t.pair_stats(0, 1) == (2, 1, 12)
    assert t.is_blocked(0, 1) and t.is_deleted(2) and not t.connect(2, 0, ts=74)
    t.connect(5, 6, ts=75)  # a memory-mapped base keeps working under edits and save-over-itself
    t.save(tmp_path / "g")
    u = GraphStore.load(tmp_path / "g")
    assert row(u, 5) == [6] and row(u, 4) == [3]
