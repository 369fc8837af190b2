"""Candidate sources: bounded, never self / neighbours / unseen users, and each source does its job."""

from __future__ import annotations

import numpy as np
import pytest

from pymk.candidates.sources import SOURCES, CandidateConfig, CandidateGenerator
from pymk.features.pairs import PairScorer
from pymk.features.rows import Rows
from pymk.features.snapshot import build_snapshot

pytestmark = pytest.mark.unit


def rows_of(pairs: list[tuple[int, int]], n_users: int) -> Rows:
    src, dst = zip(*pairs, strict=True)
    m = len(pairs)
    return Rows(np.array(src, np.int32), np.array(dst, np.int32), np.arange(m, dtype=np.float64), n_users)


def test_candidates_exclude_self_neighbours_and_unseen_users() -> None:
    rng = np.random.default_rng(0)
    n = 60
    pairs = [(int(a), int(b)) for a, b in rng.integers(0, 50, (300, 2)) if a != b]  # 50..59 never seen
    snap = build_snapshot(rows_of(pairs, n), float(len(pairs)))
    config = CandidateConfig(fof=5, ppr=5, active=4, popular=3)
    gen = CandidateGenerator(snap, config)
    users = np.arange(10)
    blocks = PairScorer(snap, ppr_iterations=5, embedding_dim=4).blocks(users)
    found = gen.sources(users, blocks)
    assert set(found) == set(SOURCES)
    rows, cols = gen.generate(users, blocks)
    adj = snap.adjacency.toarray() > 0
    assert not np.any(cols[rows == 0] == 0)
    assert not np.any(adj[users[rows], cols]) and not np.any(users[rows] == cols)
    assert np.all(cols < 50)
    assert np.bincount(rows, minlength=10).max() <= 5 + 5 + 4 + 3
    assert np.bincount(found["fof"][0], minlength=10).max() <= 5


def test_friend_of_friend_and_far_users_are_reached() -> None:
    # A path 0-1-2-3-4 plus a busy pair 5-6: fof reaches 2, PPR reaches 3, activity reaches 5 and 6.
    pairs = [(0, 1), (1, 2), (2, 3), (3, 4)] + [(5, 6)] * 6
    snap = build_snapshot(rows_of(pairs, 7), float(len(pairs)))
    gen = CandidateGenerator(snap, CandidateConfig(fof=10, ppr=10, active=2, popular=1))
    users = np.array([0])
    found = gen.sources(users, PairScorer(snap, ppr_iterations=10, embedding_dim=2).blocks(users))
    assert found["fof"][1].tolist() == [2]
    assert 3 in found["ppr"][1] and 5 not in found["ppr"][1]
    assert {5, 6} <= set(found["active"][1].tolist())
