"""Masking, exact top-k under the total tie order, and the metric arithmetic."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from pymk.evaluation.graph import TrainGraph
from pymk.evaluation.metrics import MetricSums, Ranker
from pymk.evaluation.protocol import Split

pytestmark = pytest.mark.unit


def graph_of(pairs: list[tuple[int, int]], n: int) -> TrainGraph:
    rows = [u for u, v in pairs] + [v for u, v in pairs]
    cols = [v for u, v in pairs] + [u for u, v in pairs]
    adj = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    return TrainGraph(adjacency=adj, degree=np.diff(adj.indptr).astype(np.int64))


def brute_top(scores: np.ndarray, degree: np.ndarray, k: int) -> list[list[int]]:
    out = []
    for row in scores:
        order = sorted(range(row.shape[0]), key=lambda j: (-float(row[j]), -int(degree[j]), -j))
        out.append([j if row[j] != -np.inf else -1 for j in order[:k]])
    return out


def test_ties_go_to_higher_degree_then_higher_index() -> None:
    # Degrees: 0:1, 1:3, 2:1, 3:2, 4:2, 5:1 (path 0-1, star 1-2, 1-3, 3-4, 4-5).
    graph = graph_of([(0, 1), (1, 2), (1, 3), (3, 4), (4, 5)], 6)
    ranker = Ranker(graph)
    scores = np.zeros((1, 6), dtype=np.float32)
    scores[0, [2, 5]] = 1.0  # a tie at 1.0 between two degree-1 users: index 5 first
    top = ranker.top_k(scores.copy(), 6)
    assert top.tolist() == [[5, 2, 1, 4, 3, 0]]  # then all score-0 users: degree 3, 2, 2 (4 > 3), 1


def test_mask_removes_self_and_neighbours_and_pads_with_minus_one() -> None:
    graph = graph_of([(0, 1), (0, 2), (3, 4)], 5)
    ranker = Ranker(graph)
    users = np.array([0, 3], dtype=np.int32)
    scores = np.ones((2, 5), dtype=np.float32)
    scores[0, 1] = 9.0  # a neighbour: must not appear whatever its score
    ranker.mask(users, scores)
    assert np.isneginf(scores[0, [0, 1, 2]]).all() and np.isneginf(scores[1, [3, 4]]).all()
    top = ranker.top_k(scores, 4)
    assert top[0].tolist() == [4, 3, -1, -1]
    assert top[1].tolist() == [0, 2, 1, -1]


def test_non_finite_model_scores_rank_below_every_candidate_but_above_nothing() -> None:
    graph = graph_of([(0, 1), (2, 3)], 4)
    ranker = Ranker(graph)
    scores = np.array([[0.0, 5.0, np.nan, -np.inf]], dtype=np.float32)
    ranker.mask(np.array([0], dtype=np.int32), scores)
    assert ranker.top_k(scores, 4).tolist() == [[3, 2, -1, -1]]  # both lowest; tie -> higher index


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("levels", [2, 5, 1000])
def test_top_k_equals_a_full_sort(seed: int, levels: int) -> None:
    rng = np.random.default_rng(seed)
    n, b = 400, 30
    pairs = {(int(u), int(v)) for u, v in rng.integers(0, n, (900, 2)) if u != v}
    graph = graph_of(sorted(pairs), n)
    ranker = Ranker(graph)
    users = rng.choice(n, b, replace=False).astype(np.int32)
    # Few levels: massive ties (the "cn is 0 for nearly everyone" case); many: nearly distinct scores.
    scores = rng.integers(0, levels, (b, n)).astype(np.float32) / 7
    scores[rng.random((b, n)) < 0.05] = 0.0
    ranker.mask(users, scores)
    for k in (1, 7, 50, n):
        assert ranker.top_k(scores, k).tolist() == brute_top(scores, graph.degree, k)


def split_with_truth(truth: dict[int, list[int]], n: int) -> Split:
    counts = [len(truth.get(u, [])) for u in range(n)]
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    indices = np.array([v for u in range(n) for v in sorted(truth.get(u, []))], dtype=np.int32)
    empty = np.zeros(0, dtype=np.int32)
    return Split(
        n_users=n,
        train_src=empty,
        train_dst=empty,
        train_ts=np.zeros(0),
        pair_u=empty,
        pair_v=empty,
        truth_indptr=indptr,
        truth_indices=indices,
        query_users=np.flatnonzero(np.diff(indptr)).astype(np.int32),
        user_ids=[str(u) for u in range(n)],
        test_fraction=0.2,
        seed=0,
    )


def test_recall_and_ndcg_arithmetic() -> None:
    split = split_with_truth({0: [3, 5, 7], 1: [2]}, 10)
    sums = MetricSums(split, [1, 3, 5])
    top = np.array([[5, 4, 7, 9, 3], [9, 8, 6, 4, 2]])
    sums.add(np.array([0, 1]), top)
    got = sums.means()
    d = [1 / math.log2(r + 2) for r in range(5)]
    # user 0: hits at ranks 1, 3, 5 of truth size 3; user 1: hit at rank 5 of truth size 1.
    assert got["recall@1"] == pytest.approx((1 / 3 + 0) / 2)
    assert got["ndcg@1"] == pytest.approx((1 + 0) / 2)
    assert got["recall@3"] == pytest.approx((2 / 3 + 0) / 2)
    assert got["ndcg@3"] == pytest.approx(((d[0] + d[2]) / sum(d[:3]) + 0) / 2)
    assert got["recall@5"] == pytest.approx((1 + 1) / 2)
    assert got["ndcg@5"] == pytest.approx(((d[0] + d[2] + d[4]) / sum(d[:3]) + d[4] / d[0]) / 2)
    assert list(got) == ["recall@1", "ndcg@1", "recall@3", "ndcg@3", "recall@5", "ndcg@5"]


def test_minus_one_padding_never_counts_as_a_hit() -> None:
    # Truth key (user 1, item n-1) equals (user 2, item -1) in a naive user*n+item encoding.
    split = split_with_truth({1: [9], 2: [4]}, 10)
    sums = MetricSums(split, [2])
    sums.add(np.array([2]), np.array([[-1, -1]]))
    assert sums.means() == {"recall@2": 0.0, "ndcg@2": 0.0}
