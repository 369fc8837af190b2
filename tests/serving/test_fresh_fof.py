"""Fresh friends-of-friends in the hybrid path: after A connects to B, B's friends reach A's list."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from serving_helpers import COMPUTED_AT, fill

from pymk.serving.exclusions import MemoryExclusions
from pymk.serving.fresh_fof import FRESH_SOURCE, SnapshotGraph, candidates, merge
from pymk.serving.lists_mmap import MmapListStore
from pymk.serving.model import GraphExclusions
from pymk.serving.service import RecommendationService

pytestmark = pytest.mark.unit

IDS = [f"u{i}" for i in range(10)]


def _graph(edges: list[tuple[int, int]], blocked: list[tuple[int, int]], deleted: list[int]) -> SnapshotGraph:
    def sym(pairs: list[tuple[int, int]]) -> sp.csr_matrix:
        rows = [a for a, b in pairs] + [b for a, b in pairs]
        cols = [b for a, b in pairs] + [a for a, b in pairs]
        return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(IDS), len(IDS)))

    gone = np.zeros(len(IDS), dtype=bool)
    gone[deleted] = True
    forbidden = GraphExclusions(sym(edges + blocked).astype(bool), gone)
    index = {u: i for i, u in enumerate(IDS) if not gone[i]}
    return SnapshotGraph(sym(edges), forbidden, IDS, index)


def test_candidates_are_friends_of_the_new_neighbour_ranked_by_fresh_mutuals() -> None:
    # A = u0 with friends u1, u2; B = u3 with friends u1, u4, u5, u6; u5 blocked u0 at load; u6 deleted.
    graph = _graph([(0, 1), (0, 2), (3, 1), (3, 4), (3, 5), (3, 6), (4, 8)], [(5, 0)], [6])
    ex = MemoryExclusions()
    ex.connect("u4", "u2", 50.0)  # a fresh edge gives u4 a second mutual with u0
    ex.connect("u0", "u3", 100.0)
    ex.connect("u3", "u7", 110.0)  # B's fresh friend, unknown to the snapshot's edges
    ex.connect("u3", "u9", 120.0)
    ex.block("u9", "u0", 130.0)
    assert candidates("u0", 100.0, ex, graph, set()) == [("u4", 2), ("u7", 1)]
    assert candidates("u0", 101.0, ex, graph, set()) == []  # no connect since the list
    assert candidates("u0", 100.0, ex, graph, {"u4"}) == [("u7", 1)]  # already shown
    assert candidates("u0", 100.0, ex, graph, set(), limit=1) == [("u4", 2)]
    # Without a model graph only the fresh edges count.
    assert candidates("u0", 100.0, ex, None, set()) == [("u7", 1)]
    ex.delete_user("u7", 140.0)
    ex.undo("u4", "u2", "connect")
    assert candidates("u0", 100.0, ex, graph, set()) == [("u4", 1)]


def test_merge_takes_every_other_slot_up_to_a_quarter_of_k(tmp_path: Path) -> None:
    store = MmapListStore(tmp_path / "lists")
    fill(store)
    found = store.get("u3", 8)
    assert found is not None
    fresh = [("x1", 3), ("x2", 2), ("x3", 1)]
    merged = merge(found, fresh, 8)
    ids = [d["user_id"] for d in merged.item_dicts()]
    assert ids == ["u4", "x1", "u5", "x2", "u6", "u7", "u8", "u9"]
    items = merged.item_dicts()
    assert items[1] == {"user_id": "x1", "score": items[0]["score"], "reasons": {"mutual_connections": 3},
                        "source": FRESH_SOURCE}  # fmt: skip
    assert "source" not in items[0]
    assert all(a["score"] >= b["score"] for a, b in zip(items, items[1:], strict=False))
    assert merged.items.tolist()[:3] == [found.items[0], -1, found.items[1]]
    assert merged.reasons[1, 0] == 3 and len(merged) == 8
    # Slots the stored list cannot fill go to fresh candidates; k=1 still gets one.
    short = merge(store.get("u3", 1), fresh, 3)  # type: ignore[arg-type]
    assert [d["user_id"] for d in short.item_dicts()] == ["u4", "x1", "x2"]
    assert merge(found, [], 8) is found


def test_hybrid_service_shows_the_new_friends_friends(tmp_path: Path) -> None:
    store = MmapListStore(tmp_path / "lists")
    fill(store)
    ex = MemoryExclusions()
    service = RecommendationService(store, exclusions=ex)
    assert time.time() > COMPUTED_AT
    now = time.time()
    ex.connect("u40", "u45", now)  # u45 is not in u3's stored list (u4..u33)
    ex.connect("u40", "u4", now)  # u4 is, and stays where it was
    ex.connect("u3", "u40", now)
    ids = [d["user_id"] for d in service.one("u3", 6).item_dicts()]
    assert ids == ["u4", "u45", "u5", "u6", "u7", "u8"]
    ex.block("u3", "u45", time.time())
    assert "u45" not in [d["user_id"] for d in service.one("u3", 6).item_dicts()]
    # u45's new friend's friends: u3 (who blocked it) and u4 (already in its list): nothing to add.
    assert not [d for d in service.one("u45", 30).item_dicts() if d.get("source") == FRESH_SOURCE]
    service.close()
