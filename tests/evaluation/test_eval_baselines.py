"""Each baseline's raw scores against a naive dense / pure-Python reference on small random graphs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from eval_helpers import dense_adjacency

from pymk.evaluation.baselines import (
    AdamicAdar,
    CommonNeighbours,
    Popularity,
    Recent,
    ResourceAllocation,
)
from pymk.evaluation.model import EvalModel
from pymk.evaluation.ppr import PersonalizedPageRank
from pymk.evaluation.protocol import Split, load_interactions, split_interactions
from pymk.io.formats import Format

pytestmark = pytest.mark.unit


def all_users(split: Split) -> np.ndarray:
    return np.arange(split.n_users, dtype=np.int32)


def fitted(model: EvalModel, split: Split) -> EvalModel:
    model.fit(split)
    return model


def test_popularity_is_the_number_of_unique_train_neighbours(random_split: Split) -> None:
    adj = dense_adjacency(random_split)
    scores = fitted(Popularity(), random_split).score(np.array([0, 3], dtype=np.int32))
    assert scores.dtype == np.float32 and scores.shape == (2, random_split.n_users)
    np.testing.assert_array_equal(scores, np.tile(adj.sum(axis=1), (2, 1)))


def test_recent_counts_train_rows_in_the_window_with_repeats(random_split: Split) -> None:
    s = random_split
    t_min, t_max = min(s.train_ts.tolist()), max(s.train_ts.tolist())
    expected = [0] * s.n_users
    for a, b, t in zip(s.train_src.tolist(), s.train_dst.tolist(), s.train_ts.tolist(), strict=True):
        if t >= t_max - 0.1 * (t_max - t_min):
            expected[a] += 1
            expected[b] += 1
    assert sum(expected) > 0
    scores = fitted(Recent(), s).score(np.array([1], dtype=np.int32))
    np.testing.assert_array_equal(scores[0], np.array(expected, dtype=np.float32))


def test_recent_without_times_counts_every_train_row(random_split: Split) -> None:
    s = random_split
    static = Split(**{**s.__dict__, "train_ts": np.full(s.train_ts.shape, np.nan)})
    expected = np.bincount(s.train_src, minlength=s.n_users) + np.bincount(s.train_dst, minlength=s.n_users)
    scores = fitted(Recent(), static).score(np.array([0], dtype=np.int32))
    np.testing.assert_array_equal(scores[0], expected.astype(np.float32))


def naive_neighbourhood(adj: np.ndarray, weight: str) -> np.ndarray:
    n = adj.shape[0]
    nbrs = [set(np.flatnonzero(adj[i]).tolist()) for i in range(n)]
    out = np.zeros((n, n))
    for u in range(n):
        for v in range(n):
            common = nbrs[u] & nbrs[v]
            if weight == "cn":
                out[u, v] = len(common)
            elif weight == "aa":
                out[u, v] = math.fsum(1 / math.log(max(len(nbrs[z]), 2)) for z in common)
            else:
                out[u, v] = math.fsum(1 / len(nbrs[z]) for z in common)
    return out


@pytest.mark.parametrize(
    ("name", "model"), [("cn", CommonNeighbours), ("aa", AdamicAdar), ("ra", ResourceAllocation)]
)
def test_neighbourhood_scores_match_pure_python(random_split: Split, name: str, model: type) -> None:
    expected = naive_neighbourhood(dense_adjacency(random_split), name)
    scores = fitted(model(), random_split).score(all_users(random_split))
    assert scores.dtype == np.float32
    # pymk rounds the float64 sum once to float32: exactly the float32 nearest the exact sum (or 1 ulp off).
    np.testing.assert_allclose(scores, expected.astype(np.float32), rtol=2e-7, atol=0)
    if name == "cn":
        np.testing.assert_array_equal(scores, expected)


def dense_ppr(adj: np.ndarray, users: np.ndarray, restart: float = 0.15, steps: int = 30) -> np.ndarray:
    transition = adj / adj.sum(axis=1, keepdims=True)
    start = np.zeros((users.shape[0], adj.shape[0]))
    start[np.arange(users.shape[0]), users] = 1.0
    x = start.copy()
    for _ in range(steps):
        x = restart * start + (1 - restart) * x @ transition
    return x


@pytest.mark.parametrize("threads", [1, 2])
def test_ppr_matches_dense_power_iteration_for_every_source(random_split: Split, threads: int) -> None:
    adj = dense_adjacency(random_split)
    assert (adj.sum(axis=1) == 1).sum() >= 5, "the graph should have leaves to eliminate"
    users = all_users(random_split)  # leaves, hubs and tiny components as sources
    model = PersonalizedPageRank(threads=threads, block_bytes=4 * 1024)  # many column blocks
    scores = fitted(model, random_split).score(users)
    assert scores.dtype == np.float32 and scores.shape == (users.shape[0], random_split.n_users)
    np.testing.assert_allclose(scores, dense_ppr(adj, users), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("steps", [1, 2, 5])
def test_ppr_iteration_count_and_restart_are_honoured(random_split: Split, steps: int) -> None:
    adj = dense_adjacency(random_split)
    users = all_users(random_split)
    scores = fitted(PersonalizedPageRank(restart=0.3, iterations=steps), random_split).score(users)
    np.testing.assert_allclose(scores, dense_ppr(adj, users, 0.3, steps), rtol=1e-5, atol=1e-7)


def test_score_before_fit_is_an_error() -> None:
    for model in (Popularity(), CommonNeighbours(), PersonalizedPageRank()):
        with pytest.raises(RuntimeError):
            model.score(np.array([0], dtype=np.int32))


@pytest.mark.parametrize(
    "text",
    [
        "1 2 1\n2 3 2\n3 1 3\n3 4 4\n4 1 5\n",  # no leaves at all
        "1 2 1\n3 4 2\n5 6 3\n",  # only isolated pairs: degree-1 users whose neighbour is a leaf too
        "1 2 1\n1 3 2\n1 4 3\n",  # a star: every user but the hub is a leaf
    ],
)
def test_ppr_on_graphs_with_no_or_only_leaves(tmp_path: Path, text: str) -> None:
    path = tmp_path / "g.txt"
    path.write_text(text + "1 99 100\n")  # the latest row is the test part (int(n * 0.9) = n - 1 rows train)
    split = split_interactions(load_interactions(path, Format.SNAP_TEMPORAL), test_fraction=0.1)
    assert split.pair_u.shape[0] == text.count("\n")
    users = all_users(split)
    scores = fitted(PersonalizedPageRank(), split).score(users)
    np.testing.assert_allclose(scores, dense_ppr(dense_adjacency(split), users), rtol=1e-5, atol=1e-7)
