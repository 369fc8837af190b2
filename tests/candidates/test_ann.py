"""The ``gnn`` source's index (:mod:`pymk.candidates.ann`): exact and HNSW answer the same contract."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from pymk.candidates import ann
from pymk.candidates.ann import AnnConfig, EmbeddingIndex

pytestmark = pytest.mark.unit

HNSW = AnnConfig(exact_below=0)


def clustered(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    """float32 ``(n, dim)`` around 40 centres, norms spread over 0.5x-2x (so dot and cosine disagree)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, dim))
    x = centres[rng.integers(0, 40, n)] + 0.6 * rng.standard_normal((n, dim))
    return (x * rng.uniform(0.5, 2.0, (n, 1))).astype(np.float32)


def random_exclusions(n: int, users: np.ndarray, per_user: int, seed: int = 1) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(users.shape[0]), per_user)
    cols = rng.integers(0, n, rows.shape[0])
    out = sp.csr_matrix((np.ones(rows.shape[0], np.float32), (rows, cols)), shape=(users.shape[0], n))
    out.sum_duplicates()
    return out


def best_valid(
    vectors: np.ndarray, members: np.ndarray, users: np.ndarray, excluded: sp.csr_matrix, k: int
) -> list[set[int]]:
    """The true answer, by brute force: each user's k best positive dot products among the allowed."""
    out = []
    for i, u in enumerate(users):
        score = vectors @ vectors[u]
        ok = members.copy()
        ok[u] = False
        ok[excluded[i].indices] = False
        score = np.where(ok & (score > 0), score, -np.inf)
        top = np.argsort(-score, kind="stable")[:k]
        out.append({int(c) for c in top if np.isfinite(score[c])})
    return out


def answers(rows: np.ndarray, cols: np.ndarray, b: int) -> list[set[int]]:
    return [{int(c) for c in cols[rows == i]} for i in range(b)]


@pytest.mark.parametrize("config", [AnnConfig(), HNSW], ids=["exact", "hnsw"])
def test_answers_keep_the_contract_and_find_the_true_top_k(config: AnnConfig) -> None:
    n, k = 3000, 20
    vectors = clustered(n)
    members = np.random.default_rng(2).random(n) < 0.9  # the rest are unknown: never an answer
    users = np.arange(0, n, 37, dtype=np.int64)
    excluded = random_exclusions(n, users, per_user=30)
    index = EmbeddingIndex(vectors, members, config)
    rows, cols = index.nearest(users, k, excluded)
    assert np.all(np.diff(rows) >= 0) and rows.dtype == cols.dtype == np.int64
    key = rows * n + cols
    assert np.unique(key).shape[0] == key.shape[0] and np.all(np.diff(key) > 0)
    got, truth = answers(rows, cols, users.shape[0]), best_valid(vectors, members, users, excluded, k)
    for i, u in enumerate(users):
        assert len(got[i]) == len(truth[i])
        assert members[list(got[i])].all() and int(u) not in got[i]
        assert not got[i] & set(excluded[i].indices.tolist())
        assert all(vectors[c] @ vectors[u] > 0 for c in got[i])
    found = sum(len(g & t) for g, t in zip(got, truth, strict=True)) / sum(len(t) for t in truth)
    # exact is exact; HNSW over the inner-product reduction finds nearly all of it at this size
    assert found == 1.0 if index.exact else found >= 0.97


def test_the_same_vectors_give_the_same_index_and_answers() -> None:
    vectors = clustered(2000, seed=3)
    members = np.ones(2000, dtype=bool)
    users = np.arange(0, 2000, 11, dtype=np.int64)
    excluded = random_exclusions(2000, users, per_user=10)
    first = EmbeddingIndex(vectors, members, HNSW).nearest(users, 15, excluded)
    second = EmbeddingIndex(vectors, members, HNSW).nearest(users, 15, excluded)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_a_hub_whose_exclusions_fill_the_first_search_still_gets_k() -> None:
    # The user's own most similar users are all excluded (its neighbours, as LightGCN puts them close):
    # the first search returns none of the allowed ones, so the index must search deeper.
    n, k = 1500, 10
    vectors = clustered(n, seed=4)
    hub = 7
    excluded_cols = np.argsort(-(vectors @ vectors[hub]))[:400]
    excluded = sp.csr_matrix(
        (np.ones(400, np.float32), (np.zeros(400, np.int64), excluded_cols)), shape=(1, n)
    )
    users = np.array([hub], dtype=np.int64)
    rows, cols = EmbeddingIndex(vectors, np.ones(n, dtype=bool), HNSW).nearest(users, k, excluded)
    truth = best_valid(vectors, np.ones(n, dtype=bool), users, excluded, k)[0]
    assert cols.shape[0] == k and not set(cols.tolist()) & set(excluded_cols.tolist())
    assert len(set(cols.tolist()) & truth) >= k - 1


def test_no_positive_similarity_means_no_answer() -> None:
    vectors = np.zeros((100, 4), dtype=np.float32)
    vectors[:, 0] = 1.0
    vectors[5, 0] = -1.0  # every other user points the other way
    for config in (AnnConfig(), HNSW):
        index = EmbeddingIndex(vectors, np.ones(100, dtype=bool), config)
        rows, _ = index.nearest(np.array([5], dtype=np.int64), 10, sp.csr_matrix((1, 100)))
        assert rows.shape[0] == 0


def test_the_exact_search_in_blocks_gives_the_one_block_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    # Large graphs are scored a block of members at a time; the merged answer must not change.
    n = 2500
    vectors = clustered(n, seed=5)
    members = np.random.default_rng(6).random(n) < 0.8
    users = np.arange(0, n, 29, dtype=np.int64)
    excluded = random_exclusions(n, users, per_user=40)
    whole = EmbeddingIndex(vectors, members).nearest(users, 25, excluded)
    monkeypatch.setattr(ann, "EXACT_BLOCK", users.shape[0] * 97)  # 97 members a block, many blocks
    blocked = EmbeddingIndex(vectors, members).nearest(users, 25, excluded)
    np.testing.assert_array_equal(whole[0], blocked[0])
    np.testing.assert_array_equal(whole[1], blocked[1])
