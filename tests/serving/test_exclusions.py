"""What the live graph forbids a served list: its edges, blocks either way and deleted users."""

from __future__ import annotations

import numpy as np

from pymk.graph.store import GraphStore
from pymk.serving.model import GraphExclusions


def _graph() -> GraphStore:
    """Edges 0-1, 1-2; 3 blocked 0, 2 blocked 4; 5 deleted; 6 nodes."""
    g = GraphStore.from_interactions([0, 1], [1, 2], [1, 2], n_nodes=6)
    assert g.block(3, 0, ts=3) and g.block(2, 4, ts=4) and g.delete_user(5, ts=5)
    return g


def _forbidden(ex: GraphExclusions) -> set[tuple[int, int]]:
    coo = ex.pairs.tocoo()
    return {(int(a), int(b)) for a, b in zip(coo.row, coo.col, strict=True)}


def test_edges_and_blocks_forbid_both_directions() -> None:
    ex = GraphExclusions.from_graph(_graph(), 6)
    assert _forbidden(ex) == {(0, 1), (1, 0), (1, 2), (2, 1), (3, 0), (0, 3), (2, 4), (4, 2)}
    assert ex.deleted.tolist() == [False] * 5 + [True]
    users = np.array([0, 4], dtype=np.int64)
    rows, cols = np.array([0, 0, 0, 1, 1]), np.array([1, 2, 3, 2, 5])
    assert ex.allowed(users, rows, cols).tolist() == [False, True, False, False, False]


def test_a_model_numbering_maps_nodes_and_drops_those_it_lacks() -> None:
    # the model knows graph nodes 0..3 as users 3, 2, 1, 0; node 4 (blocked by 2) is not among its users
    ex = GraphExclusions.from_graph(_graph(), 4, index=np.array([3, 2, 1, 0]))
    assert _forbidden(ex) == {(3, 2), (2, 3), (2, 1), (1, 2), (0, 3), (3, 0)}
    assert not ex.deleted.any()
