"""Behavioural tests of the pymk pipeline: determinism, save/load, reasons, mutual friends, fallbacks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pymk.candidates.sources import CandidateConfig
from pymk.features.centrality import CENTRALITY_FEATURES
from pymk.features.pairs import PAIR_FEATURES, PairScorer, pair_features
from pymk.features.rows import Rows
from pymk.features.snapshot import build_snapshot
from pymk.models.pipeline import CANDIDATE_ACTIVITY, PipelineConfig, PymkPipeline
from pymk.models.ranker import Examples, Ranker, RankerConfig

pytestmark = pytest.mark.unit

SMALL = PipelineConfig(
    candidates=CandidateConfig(fof=20, ppr=20, active=10, popular=5),
    ranker=RankerConfig(max_rounds=15, early_stopping=5, min_data_in_leaf=5),
    train_users=80,
    negatives=20,
    ppr_iterations=5,
    embedding_dim=4,
    batch=32,
)


def community_rows(seed: int, n_users: int = 120, m: int = 3000) -> Rows:
    """Four communities; most rows inside one; activity drifts between users over time."""
    rng = np.random.default_rng(seed)
    src = rng.integers(0, n_users, m)
    same = rng.random(m) < 0.8
    other = rng.integers(0, n_users, m)
    local = (src // 30) * 30 + rng.integers(0, 30, m)
    dst = np.where(same, local, other)
    keep = src != dst
    ts = np.sort(rng.uniform(0.0, 1e6, m))[keep]
    return Rows(src[keep].astype(np.int32), dst[keep].astype(np.int32), ts, n_users)


@pytest.fixture(scope="module")
def fitted() -> tuple[Rows, PymkPipeline]:
    rows = community_rows(0)
    pipe = PymkPipeline(SMALL)
    pipe.fit(rows)
    return rows, pipe


def test_scores_are_deterministic_and_candidates_rank_first(fitted: tuple[Rows, PymkPipeline]) -> None:
    rows, pipe = fitted
    assert pipe.fitted_ranker and pipe.validation["rounds"] >= 1
    users = np.arange(0, 120, 7, dtype=np.int32)
    scores = pipe.score(users)
    assert scores.shape == (users.shape[0], rows.n_users) and scores.dtype == np.float32
    again = PymkPipeline(SMALL)
    again.fit(rows)
    np.testing.assert_array_equal(scores, again.score(users))
    pb = pipe.pairs(users)
    cand = np.zeros(scores.shape, dtype=bool)
    cand[pb.rows, pb.cols] = True
    for i in range(users.shape[0]):
        if cand[i].any() and (~cand[i]).any():
            assert scores[i][cand[i]].min() > scores[i][~cand[i]].max()


def test_save_load_gives_the_same_scores_and_reasons(
    fitted: tuple[Rows, PymkPipeline], tmp_path: Path
) -> None:
    _, pipe = fitted
    pb = pipe.pairs(np.arange(10))
    path = tmp_path / "ranker.json"
    pipe.ranker.save(path)
    loaded = Ranker.load(path)
    np.testing.assert_array_equal(pipe.ranker.predict(pb.features), loaded.predict(pb.features))
    reasons = loaded.reasons(pb.features[:5], top=3)
    assert len(reasons) == 5 and all(len(r) <= 3 for r in reasons)
    assert all(name in PAIR_FEATURES and value > 0 for r in reasons for name, value in r)


def test_centrality_switched_on_widens_the_rankers_rows_and_is_used() -> None:
    rows = community_rows(1)
    pipe = PymkPipeline(replace(SMALL, centrality=True))
    pipe.fit(rows)
    names = pipe.ranker.feature_names
    assert names == PAIR_FEATURES + CENTRALITY_FEATURES
    assert all(r.feature_names == names for r in pipe.rankers)
    pb = pipe.pairs(np.arange(0, 120, 9))
    assert pb.features.shape[1] == len(names)
    assert np.isfinite(pipe.score(np.arange(0, 120, 9, dtype=np.int32))).all()
    gains = dict(zip(names, pipe.ranker.boosters[0].feature_importance("gain"), strict=True))
    assert sum(gains[f] for f in CENTRALITY_FEATURES) > 0, "no tree splits on a centrality column"


def test_an_added_mutual_friend_never_lowers_proximity_features() -> None:
    # 0 and 5 share friend 1; adding friend 2 in common raises every proximity score of the pair.
    base = [(0, 1), (1, 5), (0, 2), (2, 3), (5, 4), (3, 4), (6, 7)]
    scores = []
    for pairs in (base, [*base, (2, 5)]):
        src, dst = (np.array(x, np.int32) for x in zip(*pairs, strict=True))
        rows = Rows(src, dst, np.arange(len(pairs), dtype=np.float64), 8)
        snap = build_snapshot(rows, rows.end_time())
        users = np.array([0])
        scorer = PairScorer(snap, ppr_iterations=10, embedding_dim=2)
        scores.append(pair_features(scorer, scorer.blocks(users), np.array([0]), np.array([5]))[0])
    for name in ("cn", "aa", "ra", "wra", "ppr", "jaccard"):
        j = PAIR_FEATURES.index(name)
        assert scores[1][j] > scores[0][j], name


def test_too_little_history_falls_back_to_ppr() -> None:
    rows = Rows(np.array([0, 1], np.int32), np.array([1, 2], np.int32), np.array([1.0, 2.0]), 3)
    pipe = PymkPipeline(SMALL)
    pipe.fit(rows)
    assert not pipe.fitted_ranker
    scores = pipe.score(np.array([0], np.int32))
    assert scores[0, 2] > scores[0, 1]  # 2 is a candidate (friend of friend); 1 is already a friend


def test_bags_apply_below_the_row_limit_and_at_any_size_without_one() -> None:
    rng = np.random.default_rng(0)
    feats = rng.random((400, len(PAIR_FEATURES))).astype(np.float32)
    labels = (feats[:, 0] + 0.3 * rng.random(400) > 0.9).astype(np.int32)
    ex = Examples(feats, labels, np.full(20, 20, dtype=np.int64))
    quick = RankerConfig(max_rounds=5, min_data_in_leaf=5, bags=3)
    sizes = {}
    for limit in (None, 401, 400):
        ranker = Ranker(PAIR_FEATURES, replace(quick, bag_below_rows=limit))
        ranker.fit(ex, rounds=5)
        sizes[limit] = len(ranker.boosters)
    assert sizes == {None: 3, 401: 3, 400: 1}


def test_activity_monotone_copies_never_score_a_more_active_candidate_lower() -> None:
    rows = community_rows(6)
    pipe = PymkPipeline(SMALL)
    pipe.fit(rows)
    assert len(pipe.rankers) == 2 * (1 + len(SMALL.ensemble))
    assert {"rounds", "rounds_lambdarank", "rounds_binary_monotone", "rounds_lambdarank_monotone"} <= set(
        pipe.validation
    )
    feats = pipe.pairs(np.arange(0, 120, 3, dtype=np.int64)).features
    cols = [pipe.ranker.feature_names.index(f) for f in CANDIDATE_ACTIVITY]
    raised = feats.copy()
    raised[:, cols] += np.random.default_rng(0).random((feats.shape[0], len(cols))).astype(np.float32) * 5
    half = len(pipe.rankers) // 2
    for ranker in pipe.rankers[half:]:
        assert set(CANDIDATE_ACTIVITY) <= set(ranker.config.increasing)
        assert (ranker.predict(raised) >= ranker.predict(feats) - 1e-12).all()
    plain = PymkPipeline(replace(SMALL, monotone_activity=False))
    assert len(plain.rankers) == 1 + len(SMALL.ensemble)
