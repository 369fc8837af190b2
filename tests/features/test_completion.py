"""The completed graph (pymk.features.completion): its guesses are each user's best resource-allocation
non-neighbours, its pair scores are the stated sums, and the C kernels agree with the SciPy path."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from test_sparse_blocks import snapshot

from pymk.features import native
from pymk.features.completion import COMPLETION_FEATURES, CompletedGraph, CompletionConfig, guesses
from pymk.features.pairs import PAIR_FEATURES, PairScorer, pair_features

pytestmark = pytest.mark.unit


def _adjacency(seed: int) -> sp.csr_matrix:
    return sp.csr_matrix(snapshot(seed, n=150, m=1200).adjacency, dtype=np.float64)


def _dense_ra(adj: sp.csr_matrix) -> np.ndarray:
    """Resource allocation of every pair, -inf on the diagonal and at neighbours (never guessed)."""
    a = adj.toarray()
    ra = a @ np.diag(1.0 / np.maximum(a.sum(1), 1.0)) @ a
    ra[(a > 0) | np.eye(a.shape[0], dtype=bool)] = -np.inf
    return ra


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("path", ["c", "scipy"])
def test_guesses_are_each_users_best_non_neighbours(seed: int, path: str) -> None:
    adj = _adjacency(seed)
    ra = _dense_ra(adj)
    want = np.ceil(0.5 * np.diff(adj.indptr)).astype(np.int64)
    want[::7] = 0  # some users guess nothing
    got = (native.ra_guesses(adj, want) if path == "c" else guesses(adj, want, batch=16)).toarray() > 0
    reachable = (ra > 0).sum(1)
    np.testing.assert_array_equal(got.sum(1), np.minimum(want, reachable))
    for u in np.flatnonzero(got.any(1)):
        picked, rest = ra[u, got[u]], ra[u, ~got[u]]
        assert np.isfinite(picked).all() and (picked > 0).all(), "itself, a neighbour or out of reach"
        assert picked.min() >= rest.max() - 1e-12, f"user {u} left a better non-neighbour out"
    assert got.sum() > 100


def test_ties_go_to_the_lower_index() -> None:
    # A star: every leaf has the same ra (1/4) to the other three leaves; each may guess one.
    adj = sp.csr_matrix(np.array([[0, 1, 1, 1, 1]] + [[1, 0, 0, 0, 0]] * 4, dtype=np.float64))
    want = np.array([0, 1, 1, 1, 1])
    for made in (native.ra_guesses(adj, want), guesses(adj, want)):
        np.testing.assert_array_equal(made.tocoo().col[np.argsort(made.tocoo().row)], [2, 1, 1, 1])


@pytest.mark.parametrize("native_on", ["1", "0"])
def test_pair_scores_are_the_completed_graphs_sums(monkeypatch: pytest.MonkeyPatch, native_on: str) -> None:
    monkeypatch.setenv("PYMK_NATIVE", native_on)
    adj = _adjacency(3)
    config = CompletionConfig(share=0.5, weight=0.3)
    graph = CompletedGraph(adj, config)
    want = np.ceil(0.5 * np.diff(adj.indptr)).astype(np.int64)
    g = guesses(adj, want).toarray()
    done = adj.toarray() + 0.3 * np.maximum(g, g.T)
    ra_done = done @ np.diag(1.0 / np.maximum(done.sum(1), 1e-12)) @ done
    cn_done = done @ done
    rng = np.random.default_rng(0)
    users = np.arange(0, 150, 3)
    rows = np.sort(rng.integers(0, users.shape[0], 4000))
    cols = rng.integers(0, 150, 4000)
    got = graph.at(users, rows, cols)
    assert got.shape == (4000, len(COMPLETION_FEATURES)) and got.dtype == np.float32
    np.testing.assert_allclose(got[:, 0], ra_done[users[rows], cols], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got[:, 1], cn_done[users[rows], cols], rtol=1e-5, atol=1e-7)
    assert (got[:, 0] > 0).mean() > 0.3
    # One pair per call: the C kernel walks the pair (not the user's whole 2-hop row) — the same values.
    for p in range(0, 4000, 97):
        alone = graph.at(users[rows[p : p + 1]], np.zeros(1, dtype=np.int64), cols[p : p + 1])
        np.testing.assert_allclose(alone[0], got[p], rtol=1e-6)


def test_hub_candidates_take_the_lookup_path_and_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    # A user of degree 1 against a hub candidate: the C kernel looks the user's neighbour up in the
    # hub's row instead of walking it; the values are the same.
    n = 60
    rows_, cols_ = [0] * 40 + [1], list(range(10, 50)) + [10]
    adj = sp.coo_matrix((np.ones(41), (rows_, cols_)), shape=(n, n)).tocsr()
    adj = (adj + adj.T).tocsr()
    fast = CompletedGraph(adj).at(np.array([1]), np.zeros(3, dtype=np.int64), np.array([0, 11, 12]))
    monkeypatch.setenv("PYMK_NATIVE", "0")
    slow = CompletedGraph(adj).at(np.array([1]), np.zeros(3, dtype=np.int64), np.array([0, 11, 12]))
    np.testing.assert_allclose(fast, slow, rtol=1e-6)
    assert fast[0, 1] > 0


def test_pair_features_end_with_the_completed_graphs_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    snap = snapshot(4, n=150, m=1200)
    users = np.flatnonzero(snap.known)[::4]
    with_it = PairScorer(snap, completion=CompletionConfig())
    without = PairScorer(snap)
    blocks = with_it.blocks(users)
    rng = np.random.default_rng(1)
    rows = np.sort(rng.integers(0, users.shape[0], 500))
    cols = rng.integers(0, snap.n_users, 500)
    full, bare = pair_features(with_it, blocks, rows, cols), pair_features(without, blocks, rows, cols)
    k = len(COMPLETION_FEATURES)
    assert full.shape == (500, len(PAIR_FEATURES)) and PAIR_FEATURES[-k:] == COMPLETION_FEATURES
    np.testing.assert_array_equal(full[:, :-k], bare[:, :-k])
    assert with_it.completed is not None
    np.testing.assert_array_equal(full[:, -k:], with_it.completed.at(users, rows, cols))
    assert not bare[:, -k:].any()
    copy = pickle.loads(pickle.dumps(with_it.completed))  # batch workers receive it pickled
    np.testing.assert_array_equal(copy.at(users, rows, cols), full[:, -k:])
