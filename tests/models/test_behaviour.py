"""Behavioural tests of :meth:`PymkPipeline.score` (Made-With-ML style): what a user of the lists may rely on.

The pipeline scores every user for each query user; candidates score >= 0 and every other user below
-1, so "recommended" means "a candidate": a top-k list shorter than the candidate set holds candidates
only. The pipeline knows nothing of blocks or deletions (the serving layer filters those); what its
candidate generator guarantees is tested instead: never the query user, never a neighbour, never a user
unseen before the end of the rows, and a new connection leaves both lists.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from pipeline_helpers import FAST, TINY, community_rows, fit

from pymk.candidates.ann import AnnConfig
from pymk.features.pairs import PAIR_FEATURES
from pymk.features.rows import Rows
from pymk.models.bundle import load_bundle, save_bundle
from pymk.models.pipeline import PymkPipeline
from pymk.models.ranker import Examples, Ranker, RankerConfig

pytestmark = pytest.mark.unit

KNOWN, N_USERS = 120, 130  # users 120..129 have no row: unknown at the end of the rows
QUERY = np.arange(0, KNOWN, 7, dtype=np.int32)


def base_rows() -> Rows:
    rows = community_rows(0)
    return Rows(rows.src, rows.dst, rows.ts, N_USERS)


def with_rows(rows: Rows, pairs: list[tuple[int, int]], t: float) -> Rows:
    """``rows`` plus one row per pair at time ``t`` (kept in time order; the end stays the same if
    ``t`` is before the last row)."""
    src = np.concatenate([rows.src, np.array([p[0] for p in pairs], np.int32)])
    dst = np.concatenate([rows.dst, np.array([p[1] for p in pairs], np.int32)])
    ts = np.concatenate([rows.ts, np.full(len(pairs), t)])
    order = np.argsort(ts, kind="stable")
    return Rows(src[order], dst[order], ts[order], rows.n_users)


def neighbours(rows: Rows, user: int) -> set[int]:
    """Every user ``user`` shares a row with, straight from the rows."""
    return {int(v) for v in rows.dst[rows.src == user]} | {int(v) for v in rows.src[rows.dst == user]}


def candidates(pipe: PymkPipeline, users: np.ndarray) -> list[set[int]]:
    pb = pipe.pairs(users)
    return [{int(c) for c in pb.cols[pb.rows == i]} for i in range(users.shape[0])]


@pytest.fixture(scope="module")
def fitted() -> tuple[Rows, PymkPipeline]:
    rows = base_rows()
    return rows, fit(rows, FAST)


def test_never_self_a_neighbour_or_an_unknown_user(fitted: tuple[Rows, PymkPipeline]) -> None:
    rows, pipe = fitted
    assert pipe.fitted_ranker
    scores = pipe.score(QUERY)
    unknown = set(range(KNOWN, N_USERS))
    for i, (user, cands) in enumerate(zip(QUERY.tolist(), candidates(pipe, QUERY), strict=True)):
        excluded = {user} | neighbours(rows, user) | unknown
        assert cands and not cands & excluded
        # The top of the list, as long as the candidate set, is exactly the candidate set.
        top = np.argsort(-scores[i], kind="stable")[: len(cands)]
        assert set(top.tolist()) == cands
        assert scores[i, sorted(excluded)].max() < scores[i, sorted(cands)].min()


def test_a_new_connection_leaves_both_lists(fitted: tuple[Rows, PymkPipeline]) -> None:
    rows, pipe = fitted
    u = int(QUERY[1])
    c = min(candidates(pipe, np.array([u]))[0])
    after = fit(with_rows(rows, [(u, c)], float(np.median(rows.ts))), FAST)
    cand_u, cand_c = candidates(after, np.array([u, c], dtype=np.int32))
    assert c not in cand_u and u not in cand_c
    scores = after.score(np.array([u, c], dtype=np.int32))
    assert scores[0, c] < scores[0, sorted(cand_u)].min() and scores[1, u] < scores[1, sorted(cand_c)].min()


@pytest.mark.parametrize("exact_below", [AnnConfig().exact_below, 0], ids=["exact", "hnsw"])
def test_deterministic_given_a_seed_and_through_a_bundle(
    fitted: tuple[Rows, PymkPipeline], tmp_path: Path, exact_below: int
) -> None:
    # Everything on, graph embeddings included; their candidate source searched exactly, or through
    # the HNSW index (rebuilt from the bundle's vectors at load).
    rows, _ = fitted
    config = replace(TINY, candidates=replace(TINY.candidates, ann=AnnConfig(exact_below=exact_below)))
    pipe = fit(rows, config)
    assert pipe.featurizer is not None and pipe.featurizer.generator.index is not None
    assert pipe.featurizer.generator.index.exact == (exact_below > 0)
    scores = pipe.score(QUERY)
    np.testing.assert_array_equal(fit(rows, config).score(QUERY), scores)
    save_bundle(pipe, tmp_path / "bundle", rows=rows)
    np.testing.assert_array_equal(load_bundle(tmp_path / "bundle").pipeline.score(QUERY), scores)


def _mutual_friend_cases(rows: Rows, pipe: PymkPipeline, n: int) -> list[tuple[int, int, int]]:
    """``n`` triples (u, c, x): c a known non-neighbour of u, x a known user linked to neither."""
    rng = np.random.default_rng(0)
    out = []
    for u in QUERY[:n].tolist():
        near = neighbours(rows, u) | {u}
        c = int(rng.choice(sorted(set(range(KNOWN)) - near)))
        x = int(rng.choice(sorted(set(range(KNOWN)) - near - neighbours(rows, c) - {c})))
        out.append((u, c, x))
    return out


def test_an_added_mutual_friend_keeps_the_candidate_and_raises_its_proximity(
    fitted: tuple[Rows, PymkPipeline],
) -> None:
    # Guaranteed by the generator when its friends-of-friends budget covers the 2-hop neighbourhood
    # (with a smaller budget another user may tie c at the cut): c is 2 hops from u once x links them.
    rows, _ = fitted
    covering = replace(FAST, candidates=replace(FAST.candidates, fof=N_USERS))
    pipe = fit(rows, covering)
    t = float(np.median(rows.ts))
    for u, c, x in _mutual_friend_cases(rows, pipe, 5):
        after = fit(with_rows(rows, [(u, x), (x, c)], t), covering)
        assert c in candidates(after, np.array([u]))[0]
        assert pipe.featurizer is not None and after.featurizer is not None
        before_blocks = pipe.featurizer.scorer.blocks(np.array([u]))
        after_blocks = after.featurizer.scorer.blocks(np.array([u]))
        for name in ("cn", "aa", "ra"):
            assert after_blocks.dense(name)[0, c] > before_blocks.dense(name)[0, c], (name, u, c, x)
        assert after_blocks.dense("cn")[0, c] == before_blocks.dense("cn")[0, c] + 1


def _raised_mutual_family(ranker: Ranker, features: np.ndarray, seed: int) -> np.ndarray:
    """``features`` with every column of the mutual-connection family (the default ``increasing``)
    raised by a random amount (one more mutual connection moves all of them up; here each moves on its
    own, all else fixed)."""
    columns = [ranker.feature_names.index(f) for f in RankerConfig().increasing]
    rng = np.random.default_rng(seed)
    raised = features.copy()
    scale = np.maximum(features[:, columns].max(axis=0), 1.0)
    raised[:, columns] += (rng.random((features.shape[0], len(columns))) * scale).astype(np.float32)
    return raised


@pytest.mark.parametrize("constrained", [True, False])
def test_more_mutual_connections_never_lower_a_rankers_score_all_else_equal(
    fitted: tuple[Rows, PymkPipeline], constrained: bool
) -> None:
    # The rankers are monotone in the mutual-connection family (RankerConfig.increasing): raising any
    # of those features of a candidate, its other features fixed, never lowers any ranker's score. The
    # unconstrained case is trained where it pays to be non-monotone (labels only at middling common-
    # neighbour counts), to show that the check has teeth; the constrained rankers, trained the same
    # way, and the fitted pipeline's stay monotone.
    _, pipe = fitted
    rankers = pipe.rankers if constrained else []
    rng = np.random.default_rng(0)
    features = rng.random((4000, len(PAIR_FEATURES)), dtype=np.float32) * 10
    cn = features[:, PAIR_FEATURES.index("cn")]
    examples = Examples(features, ((cn > 3) & (cn < 6)).astype(np.int32), np.full(80, 50))
    config = RankerConfig(max_rounds=30) if constrained else RankerConfig(max_rounds=30, increasing=())
    trained = Ranker(PAIR_FEATURES, config)
    trained.fit(examples, rounds=30)
    lowered = 0
    for ranker in [*rankers, trained]:
        probe = pipe.pairs(QUERY.astype(np.int64)).features if ranker is not trained else features
        for seed in range(5):
            raised = _raised_mutual_family(ranker, probe, seed)
            lowered += int((ranker.predict(raised) < ranker.predict(probe) - 1e-12).sum())
    if constrained:
        assert lowered == 0
    else:
        assert lowered > 0, "the unconstrained ranker came out monotone: the check shows nothing"


@pytest.mark.xfail(
    strict=True,
    reason="not guaranteed by the learned ranker: with the ranker held fixed, one more mutual friend "
    "lowers c's rank for 6 of these 18 (u, c, x) (3 before the activity-monotone rankers were added, 6 "
    "before the fixed activity windows, 3 before the completed-graph features, 5 without the monotone "
    "constraints); the rankers are monotone in the "
    "mutual-connection features (test above), but the other features (degrees, activity, PPR, l3, the "
    "completed graph, whose guesses change across the graph) move too, other candidates gain through x "
    "as well, and scores are standardised per user",
)
def test_an_added_mutual_friend_never_lowers_the_rank_under_a_fixed_ranker(
    fitted: tuple[Rows, PymkPipeline],
) -> None:
    rows, pipe = fitted
    base = pipe.featurizer
    t = float(np.median(rows.ts))
    worse = []
    try:
        for u, c, x in _mutual_friend_cases(rows, pipe, len(QUERY)):
            pipe.featurizer = base
            before = pipe.score(np.array([u]))[0]
            more = with_rows(rows, [(u, x), (x, c)], t)
            pipe.featurizer = pipe._featurizer(more, more.end_time())  # same ranker, x added
            after = pipe.score(np.array([u]))[0]
            if (after > after[c]).sum() > (before > before[c]).sum():
                worse.append((u, c, x))
    finally:
        pipe.featurizer = base
    assert not worse, f"rank lowered for {len(worse)} of {len(QUERY)}: {worse}"


def test_a_cold_start_user_borrows_no_one_elses_neighbourhood(fitted: tuple[Rows, PymkPipeline]) -> None:
    _, pipe = fitted
    cold = np.array([KNOWN + 5], dtype=np.int32)
    scores = pipe.score(cold)[0]
    assert np.isfinite(scores).all() and scores[KNOWN:].max() < scores[:KNOWN].max()
    assert pipe.featurizer is not None
    ppr = pipe.featurizer.scorer.blocks(cold.astype(np.int64)).rows["ppr"]
    assert ppr.nnz == 0, "an unknown user has no PageRank neighbourhood of its own"
