"""CSRGraph: construction, row contract, lookups, scipy view, persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pymk.graph import NO_TS, CSRGraph
from pymk.graph._arrays import UINT32_MAX

pytestmark = pytest.mark.unit


def rows(g: CSRGraph) -> list[list[int]]:
    return [g.neighbors(u).tolist() for u in range(g.n_nodes)]


def test_from_pairs_dedupes_drops_self_loops_and_sorts_rows() -> None:
    g = CSRGraph.from_pairs([3, 0, 1, 1, 2, 3, 4], [0, 3, 0, 1, 1, 2, 0])
    assert rows(g) == [[1, 3, 4], [0, 2], [1, 3], [0, 2], [0]]
    assert g.n_nodes == 5
    assert g.n_edges == 5
    assert g.indptr.dtype == np.int64 and g.indices.dtype == np.int32
    assert g.degrees().tolist() == [3, 2, 2, 2, 1]
    assert g.count_out is None and g.last_ts is None
    g.validate()


def test_adjacency_costs_at_most_16_bytes_per_edge_plus_indptr() -> None:
    rng = np.random.default_rng(1)
    g = CSRGraph.from_pairs(rng.integers(0, 500, 5000), rng.integers(0, 500, 5000))
    assert g.nbytes - g.indptr.nbytes == 8 * g.n_edges


def test_n_nodes_explicit_and_isolated_tail() -> None:
    g = CSRGraph.from_pairs([0], [1], n_nodes=4)
    assert g.n_nodes == 4
    assert g.neighbors(3).size == 0
    with pytest.raises(ValueError):
        CSRGraph.from_pairs([0], [5], n_nodes=3)
    with pytest.raises(IndexError):
        g.neighbors(4)


def test_empty_graph() -> None:
    g = CSRGraph.from_pairs(np.array([], dtype=np.int64), np.array([], dtype=np.int64))
    assert (g.n_nodes, g.n_edges) == (0, 0)
    loops = CSRGraph.from_pairs([2], [2])
    assert (loops.n_nodes, loops.n_edges) == (3, 0)


def test_rejects_bad_ids_and_shapes() -> None:
    with pytest.raises(ValueError):
        CSRGraph.from_pairs([-1], [2])
    with pytest.raises(ValueError):
        CSRGraph.from_pairs([1, 2], [2])
    with pytest.raises(TypeError):
        CSRGraph.from_pairs([0.5], [2.0])


def test_has_edge_and_entry_index() -> None:
    g = CSRGraph.from_pairs([0, 0, 2], [1, 2, 3])
    assert g.has_edge(0, 1) and g.has_edge(1, 0) and g.has_edge(3, 2)
    assert not g.has_edge(1, 2) and not g.has_edge(0, 0) and not g.has_edge(0, 99)
    i = g.entry_index(2, 3)
    assert g.indices[i] == 3 and g.indptr[2] <= i < g.indptr[3]
    assert g.entry_index(1, 3) == -1


def test_arrays_are_read_only() -> None:
    g = CSRGraph.from_pairs([0], [1])
    with pytest.raises(ValueError):
        g.indices[0] = 5
    with pytest.raises(ValueError):
        g.neighbors(0)[0] = 5


def test_matches_dense_model_on_random_graph() -> None:
    rng = np.random.default_rng(7)
    n = 60
    u, v = rng.integers(0, n, 900), rng.integers(0, n, 900)
    dense = np.zeros((n, n), dtype=bool)
    dense[u, v] = dense[v, u] = True
    np.fill_diagonal(dense, False)
    g = CSRGraph.from_pairs(u, v, n_nodes=n)
    g.validate()
    assert np.array_equal(g.to_scipy().toarray().astype(bool), dense)
    assert rows(g) == [np.flatnonzero(dense[i]).tolist() for i in range(n)]


def test_to_scipy_shares_indices_and_computes() -> None:
    g = CSRGraph.from_pairs([0, 1], [1, 2])
    a = g.to_scipy()
    assert np.shares_memory(a.indices, g.indices)
    assert a.data.dtype == np.float32
    assert (a @ a).toarray()[0].tolist() == [1.0, 0.0, 1.0]


def test_from_interactions_counts_each_direction_and_last_time() -> None:
    g = CSRGraph.from_interactions([0, 1, 0, 2, 3], [1, 0, 1, 0, 3], [5, 7, 3.9, 1, 9])
    assert rows(g) == [[1, 2], [0], [0], []]
    assert g.count_out is not None and g.last_ts is not None
    assert int(g.count_out[g.entry_index(0, 1)]) == 2
    assert int(g.count_out[g.entry_index(1, 0)]) == 1
    assert int(g.count_out[g.entry_index(0, 2)]) == 0
    assert int(g.count_out[g.entry_index(2, 0)]) == 1
    assert int(g.last_ts[g.entry_index(1, 0)]) == 7
    assert int(g.last_ts[g.entry_index(2, 0)]) == 1
    g.validate()


def test_from_interactions_without_times() -> None:
    g = CSRGraph.from_interactions([0], [1])
    assert g.last_ts is not None and g.last_ts.tolist() == [NO_TS, NO_TS]


def test_validate_catches_asymmetry_and_unsorted_rows() -> None:
    with pytest.raises(ValueError, match="symmetric"):
        CSRGraph(np.array([0, 2, 2, 2], np.int64), np.array([1, 2], np.int32)).validate()
    with pytest.raises(ValueError, match="ascending"):
        CSRGraph(np.array([0, 2, 3, 4], np.int64), np.array([2, 1, 0, 0], np.int32)).validate()
    with pytest.raises(ValueError):
        CSRGraph(np.array([0, 1], np.int64), np.array([0, 0], np.int32))


@pytest.mark.parametrize("mmap", [True, False])
def test_save_load_round_trip(tmp_path: Path, mmap: bool) -> None:
    g = CSRGraph.from_interactions([0, 1, 2, 4], [1, 2, 0, 1], [10, 20, 30, 40], n_nodes=6)
    g.save(tmp_path / "g")
    h = CSRGraph.load(tmp_path / "g", mmap=mmap)
    assert isinstance(h.indices, np.memmap) == mmap
    assert (h.n_nodes, h.n_edges) == (6, 4)
    assert np.array_equal(g.indptr, h.indptr) and np.array_equal(g.indices, h.indices)
    assert g.count_out is not None and h.count_out is not None
    assert g.last_ts is not None and h.last_ts is not None
    assert np.array_equal(g.count_out, h.count_out) and np.array_equal(g.last_ts, h.last_ts)
    h.validate()
    g2 = CSRGraph.from_pairs([0], [3])
    g2.save(tmp_path / "g")  # overwrite while h still maps the old files
    assert rows(h)[0] == [1, 2]
    assert rows(CSRGraph.load(tmp_path / "g")) == [[3], [], [], [0]]
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_count_saturates_instead_of_wrapping() -> None:
    from pymk.graph._arrays import saturating_add

    out = saturating_add(np.array([UINT32_MAX - 1], np.uint32), np.array([5], np.uint64))
    assert out.tolist() == [UINT32_MAX]
