"""Node centrality: k-core numbers and PageRank equal networkx's, and every pair row carries both users'."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from test_sparse_blocks import snapshot

from pymk.features import native
from pymk.features.centrality import (
    CENTRALITY,
    CENTRALITY_FEATURES,
    core_numbers,
    pagerank,
    pair_columns,
    user_centrality,
)
from pymk.features.pairs import PAIR_FEATURES, PairScorer, pair_feature_names, pair_features
from pymk.serving.model import reason_group

pytestmark = pytest.mark.unit


def graph(seed: int) -> tuple[nx.Graph, sp.csr_matrix]:
    """A clustered power-law graph with a few isolated users at the end."""
    g = nx.powerlaw_cluster_graph(400, 3, 0.4, seed=seed)
    g.add_edges_from((400 + i, 401 + i) for i in range(5))  # a path: cores of 1
    g.add_nodes_from(range(406, 410))  # not seen: core 0
    return g, nx.to_scipy_sparse_array(g, nodelist=range(410), format="csr")


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kernels", ["1", "0"])  # the C kernel, then the SciPy peeling
def test_core_numbers_and_pagerank_equal_networkx(
    seed: int, kernels: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYMK_NATIVE", kernels)
    assert native.available() == (kernels == "1")
    g, adj = graph(seed)
    expected = nx.core_number(g)
    np.testing.assert_array_equal(core_numbers(adj), [expected[i] for i in range(410)])
    ranks = nx.pagerank(g)
    np.testing.assert_allclose(pagerank(adj), [ranks[i] for i in range(410)], rtol=1e-9, atol=1e-12)


def test_user_values_are_core_its_share_scaled_pagerank_and_neighbour_degree() -> None:
    g, adj = graph(3)
    degree = np.diff(adj.indptr)
    values = user_centrality(adj, degree)
    assert values.shape == (410, len(CENTRALITY)) and values.dtype == np.float32
    core, share, rank, nbr = values.T
    assert core[406:].tolist() == [0, 0, 0, 0] and share[406:].tolist() == [0, 0, 0, 0]
    np.testing.assert_allclose(share[:400], core[:400] / degree[:400], rtol=1e-6)
    assert rank.mean() == pytest.approx(1.0, rel=1e-5)  # PageRank times the user count
    u = 7
    assert nbr[u] == pytest.approx(np.mean([g.degree(v) for v in g[u]]), rel=1e-6)


def test_pair_rows_end_with_the_candidates_then_the_query_users_values() -> None:
    snap = snapshot(5, n=150, m=1200)
    users = np.flatnonzero(snap.known)[::5]
    scorer = PairScorer(snap, centrality=True)
    blocks = scorer.blocks(users)
    rng = np.random.default_rng(2)
    rows = np.sort(rng.integers(0, users.shape[0], 300))
    cols = rng.integers(0, snap.n_users, 300)
    full = pair_features(scorer, blocks, rows, cols)
    names = scorer.feature_names
    assert names == pair_feature_names(True) == PAIR_FEATURES + CENTRALITY_FEATURES
    assert full.shape == (300, len(names))
    values = snap.centrality
    assert not values.flags.writeable
    k = len(CENTRALITY_FEATURES)
    np.testing.assert_array_equal(full[:, -k:], pair_columns(values, users[rows], cols))
    core = CENTRALITY.index("core")
    np.testing.assert_array_equal(full[:, names.index("c_core")], values[cols, core])
    np.testing.assert_array_equal(full[:, names.index("q_core")], values[users[rows], core])
    off = PairScorer(snap)  # off by default: the row without them, otherwise the same
    assert off.feature_names == PAIR_FEATURES
    np.testing.assert_array_equal(pair_features(off, blocks, rows, cols), full[:, :-k])


def test_candidate_centrality_explains_as_popular_and_the_query_side_not_at_all() -> None:
    assert {reason_group(f"c_{name}") for name in CENTRALITY} == {"popular"}
    assert {reason_group(f"q_{name}") for name in CENTRALITY} == {None}
