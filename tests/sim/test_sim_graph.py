"""The growing CSR adjacency behind triadic closure."""

from __future__ import annotations

import numpy as np
import pytest

from pymk.sim.graph import Adjacency

pytestmark = pytest.mark.unit


def test_batches_of_edges_keep_rows_sorted_and_membership_exact() -> None:
    rng = np.random.default_rng(1)
    n = 300
    graph = Adjacency(n)
    edges: set[tuple[int, int]] = set()
    for _ in range(6):
        u, v = rng.integers(0, n, 400), rng.integers(0, n, 400)
        fresh: dict[tuple[int, int], None] = {}
        for a, b in zip(u.tolist(), v.tolist(), strict=True):
            key = (min(a, b), max(a, b))
            if a != b and key not in edges:
                fresh[key] = None
        pairs = np.array(list(fresh), dtype=np.int64).reshape(-1, 2)
        graph.add(pairs[:, 0], pairs[:, 1])
        edges.update(fresh)
        qu, qv = rng.integers(0, n, 2000), rng.integers(0, n, 2000)
        expect = np.array(
            [(min(a, b), max(a, b)) in edges for a, b in zip(qu.tolist(), qv.tolist(), strict=True)]
        )
        assert np.array_equal(graph.contains(qu, qv), expect)
    for row in range(n):
        neighbours = graph.indices[graph.indptr[row] : graph.indptr[row + 1]]
        assert np.all(np.diff(neighbours) > 0)
        assert set(neighbours.tolist()) == {b if a == row else a for a, b in edges if row in (a, b)}
    assert graph.directed_edges == 2 * len(edges)
    assert np.array_equal(graph.degree, np.diff(graph.indptr))


def test_samplers_return_neighbours() -> None:
    graph = Adjacency(4)
    graph.add(np.array([0, 0]), np.array([1, 2]))
    r = np.linspace(0, 0.999, 50)
    assert set(graph.random_neighbours(np.zeros(50, dtype=np.int64), r).tolist()) == {1, 2}
    assert set(graph.random_endpoints(r).tolist()) == {0, 1, 2}
