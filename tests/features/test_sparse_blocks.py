"""The sparse neighbourhood blocks equal their dense definitions; bounded PPR equals the exact one at
tolerance 0 and never exceeds it otherwise."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from pymk.candidates.ann import AnnConfig
from pymk.candidates.sources import CandidateConfig, CandidateGenerator
from pymk.evaluation.graph import TrainGraph
from pymk.evaluation.ppr import PersonalizedPageRank
from pymk.features.local_ppr import LocalPageRank
from pymk.features.pairs import PAIR_FEATURES, PairScorer, pair_features
from pymk.features.rows import Rows
from pymk.features.snapshot import build_snapshot

pytestmark = pytest.mark.unit


def snapshot(seed: int, n: int = 80, m: int = 500):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    # A few hubs and many low-degree users, like the real graphs.
    src = np.minimum(rng.zipf(1.6, m) - 1, n - 1).astype(np.int32)
    dst = rng.integers(0, n, m).astype(np.int32)
    keep = src != dst
    rows = Rows(src[keep], dst[keep], np.sort(rng.uniform(0, 1e5, int(keep.sum()))), n + 5)
    return build_snapshot(rows, rows.end_time() + 1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bounded_ppr_at_tolerance_zero_is_the_exact_power_iteration(seed: int) -> None:
    snap = snapshot(seed)
    users = np.flatnonzero(snap.known)[:12]
    known = np.flatnonzero(snap.known)
    local = np.full(snap.n_users, -1)
    local[known] = np.arange(known.shape[0])
    sub = snap.adjacency[known][:, known].tocoo()
    upper = sub.row < sub.col
    exact = PersonalizedPageRank(iterations=10, threads=1)
    exact.fit_graph(TrainGraph.from_pairs(known.shape[0], sub.row[upper], sub.col[upper]))
    want = np.zeros((users.shape[0], snap.n_users), dtype=np.float32)
    want[:, known] = exact.score(local[users].astype(np.int32))
    got = LocalPageRank(snap.adjacency, iterations=10, tolerance=0.0).scores(users).toarray()
    np.testing.assert_allclose(got, want, atol=2e-6)
    pruned = LocalPageRank(snap.adjacency, iterations=10, tolerance=1e-2).scores(users)
    assert (pruned.toarray() <= want + 2e-6).all(), "pruning only loses mass"
    assert pruned.nnz < sp.csr_matrix(want).nnz, "and touches fewer users"


def test_bounded_ppr_of_an_unknown_user_is_empty() -> None:
    snap = snapshot(3)
    cold = np.array([snap.n_users - 1])
    assert not snap.known[cold[0]]
    assert LocalPageRank(snap.adjacency).scores(cold).nnz == 0


@pytest.mark.parametrize("seed", [0, 4])
def test_pair_scores_equal_their_dense_definitions(seed: int) -> None:
    snap = snapshot(seed)
    users = np.flatnonzero(snap.known)[:10].astype(np.int64)
    scorer = PairScorer(snap, ppr_iterations=5, embedding_dim=4)
    blocks = scorer.blocks(users)
    rows, cols = np.nonzero(np.ones((users.shape[0], snap.n_users), dtype=bool))
    got = pair_features(scorer, blocks, rows, cols)
    adj = snap.adjacency.toarray()
    deg = adj.sum(axis=1)
    cn = adj[users] @ adj
    aa = (adj[users] / np.log(np.maximum(deg, 2.0))) @ adj
    half = 1.0 / np.sqrt(np.maximum(deg, 1.0))
    l3 = ((adj[users] * half) @ adj) @ (half[:, None] * adj)
    for name, want in (("cn", cn), ("aa", aa), ("l3", l3)):
        column = got[:, PAIR_FEATURES.index(name)].reshape(users.shape[0], snap.n_users)
        np.testing.assert_allclose(column, want, rtol=1e-5, atol=1e-5, err_msg=name)


def test_friends_of_friends_are_the_best_valid_adamic_adar_scores() -> None:
    snap = snapshot(5, n=120, m=700)
    users = np.flatnonzero(snap.known)[:15].astype(np.int64)
    scorer = PairScorer(snap, ppr_iterations=5, embedding_dim=4)
    gen = CandidateGenerator(snap, CandidateConfig(fof=6))
    rows, cols = gen.sources(users, scorer.blocks(users))["fof"]
    adj = snap.adjacency.toarray() > 0
    aa = scorer.blocks(users).dense("aa")
    for i, u in enumerate(users):
        ok = snap.known & ~adj[u]
        ok[u] = False
        score = np.where(ok, aa[i], 0.0)
        picked = cols[rows == i]
        assert picked.shape[0] == min(6, int((score > 0).sum()))
        if picked.shape[0]:  # nothing left out scores above anything picked
            assert score[picked].min() >= np.delete(score, picked).max()


@pytest.mark.parametrize("exact_below", [20_000, 0], ids=["exact", "hnsw"])
def test_the_gnn_source_is_the_best_valid_embedding_scores(exact_below: int) -> None:
    # On 100 users the HNSW search (forced by exact_below=0) finds the exact answer too.
    snap = snapshot(6, n=100, m=600)
    vectors = np.random.default_rng(0).standard_normal((snap.n_users, 4)).astype(np.float32)
    users = np.flatnonzero(snap.known)[:10].astype(np.int64)
    scorer = PairScorer(snap, ppr_iterations=5, embedding_dim=4, gnn_vectors=vectors)
    config = CandidateConfig(gnn=5, ann=AnnConfig(exact_below=exact_below))
    generator = CandidateGenerator(snap, config, vectors=vectors)
    assert generator.index is not None and generator.index.exact == (exact_below > 0)
    rows, cols = generator.sources(users, scorer.blocks(users))["gnn"]
    adj = snap.adjacency.toarray() > 0
    for i, u in enumerate(users):
        ok = snap.known & ~adj[u]
        ok[u] = False
        score = np.where(ok, vectors @ vectors[u], 0.0)
        picked = cols[rows == i]
        assert picked.shape[0] == min(5, int((score > 0).sum()))  # neighbours never use up the budget
        assert ok[picked].all() and score[picked].min() >= np.delete(score, picked).max()
