"""The C kernels (pymk.features.native) give the SciPy path's values: blocks, PPR, l3, lookups and the
pair features built on them."""

from __future__ import annotations

import logging
import pickle

import numpy as np
import pytest
from test_sparse_blocks import snapshot

from pymk.candidates.sources import CandidateConfig, CandidateGenerator
from pymk.features import native
from pymk.features.local_ppr import LocalPageRank
from pymk.features.pairs import PairScorer, pair_features, sparse_at

pytestmark = pytest.mark.unit


def test_the_extension_is_built() -> None:
    # pip install builds it (setup.py); without it every scorer takes the slower SciPy path.
    assert native.available(), "pymk.features._kernels is missing: reinstall with pip install -e ."


def _scorers(monkeypatch: pytest.MonkeyPatch, seed: int) -> tuple[PairScorer, PairScorer]:
    snap = snapshot(seed, n=150, m=1200)
    monkeypatch.setenv("PYMK_NATIVE", "0")
    slow = PairScorer(snap, ppr_tolerance=1e-3)
    monkeypatch.setenv("PYMK_NATIVE", "1")
    fast = PairScorer(snap, ppr_tolerance=1e-3)
    assert slow.native is None and fast.native is not None
    return slow, fast


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_native_blocks_equal_the_scipy_blocks(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    slow, fast = _scorers(monkeypatch, seed)
    users = np.flatnonzero(slow.snap.known)[::3]
    users = np.append(users, slow.snap.n_users - 1)  # an unknown user: empty rows on both paths
    want, got = slow.blocks(users), fast.blocks(users)
    for name in ("cn", "aa", "ra", "wra", "ppr"):
        np.testing.assert_array_equal(got.rows[name].indptr, want.rows[name].indptr, err_msg=name)
        np.testing.assert_array_equal(got.rows[name].indices, want.rows[name].indices, err_msg=name)
        np.testing.assert_allclose(got.rows[name].data, want.rows[name].data, rtol=1e-5, err_msg=name)
    np.testing.assert_allclose(got.two_hop.toarray(), want.two_hop.toarray(), rtol=1e-5)
    rows, cols = CandidateGenerator(slow.snap).generate(users, want)
    assert rows.shape[0] > 100
    for config in (CandidateConfig(), CandidateConfig(fof=4, ppr=3, active=6, popular=5)):
        slow_pairs = CandidateGenerator(slow.snap, config).generate(users, want)
        fast_pairs = CandidateGenerator(fast.snap, config, kernels=fast.native).generate(users, got)
        np.testing.assert_array_equal(fast_pairs[0], slow_pairs[0])
        np.testing.assert_array_equal(fast_pairs[1], slow_pairs[1])
    np.testing.assert_allclose(fast.l3(got, rows, cols), slow.l3(want, rows, cols), rtol=1e-5)
    monkeypatch.setenv("PYMK_NATIVE", "0")
    slow_features = pair_features(slow, want, rows, cols)
    monkeypatch.setenv("PYMK_NATIVE", "1")
    np.testing.assert_allclose(pair_features(fast, got, rows, cols), slow_features, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("tolerance", [0.0, 1e-4, 1e-2])
def test_native_ppr_equals_the_sparse_products(monkeypatch: pytest.MonkeyPatch, tolerance: float) -> None:
    _, fast = _scorers(monkeypatch, 3)
    snap = fast.snap
    users = np.flatnonzero(snap.known)
    assert fast.native is not None
    kernel = LocalPageRank(snap.adjacency, iterations=7, tolerance=tolerance, kernels=fast.native)
    products = LocalPageRank(snap.adjacency, iterations=7, tolerance=tolerance)
    np.testing.assert_allclose(kernel.scores(users).toarray(), products.scores(users).toarray(), atol=1e-6)


def test_native_lookup_finds_every_entry_and_nothing_else(monkeypatch: pytest.MonkeyPatch) -> None:
    snap = snapshot(5, n=150, m=1200)
    matrix = snap.adjacency[np.arange(40)].astype(np.float32)
    matrix.sum_duplicates()
    rng = np.random.default_rng(0)
    rows = np.sort(rng.integers(0, 40, 5000))
    cols = rng.integers(0, snap.n_users, 5000)
    want = matrix.toarray()[rows, cols]
    np.testing.assert_array_equal(sparse_at(matrix, rows, cols), want)
    monkeypatch.setenv("PYMK_NATIVE", "0")
    np.testing.assert_array_equal(sparse_at(matrix, rows, cols), want)
    assert want.sum() > 0


def test_a_pickled_scorer_scores_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    # Batch workers and Ray actors receive the pipeline pickled: the kernels travel without the library.
    _, fast = _scorers(monkeypatch, 6)
    copy = pickle.loads(pickle.dumps(fast))
    users = np.flatnonzero(fast.snap.known)[:20]
    want, got = fast.blocks(users), copy.blocks(users)
    for name in ("cn", "aa", "ra", "wra", "ppr"):
        np.testing.assert_array_equal(got.rows[name].toarray(), want.rows[name].toarray())


@pytest.mark.parametrize("hub_degree", [1, 8, 10**9])
def test_native_l3_is_the_same_through_hub_bitsets(monkeypatch: pytest.MonkeyPatch, hub_degree: int) -> None:
    # Candidates of high degree are scored through neighbour bitsets (all users at 1, none at 10**9).
    monkeypatch.setattr(native, "HUB_DEGREE", hub_degree)
    slow, fast = _scorers(monkeypatch, 7)
    assert fast.native is not None
    assert (fast.native.hub >= 0).any() == (hub_degree < 10**9)
    users = np.flatnonzero(slow.snap.known)[::2]
    want, got = slow.blocks(users), fast.blocks(users)
    rows, cols = CandidateGenerator(slow.snap).generate(users, want)
    np.testing.assert_allclose(fast.l3(got, rows, cols), slow.l3(want, rows, cols), rtol=1e-5)


def test_a_missing_build_is_logged_and_leaves_the_scipy_path(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(native.importlib.util, "find_spec", lambda name: None)
    with caplog.at_level(logging.WARNING, logger="pymk.features.native"):
        assert native._load() is None
    assert "not built" in caplog.text and "SciPy path" in caplog.text
