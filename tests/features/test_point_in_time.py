"""Point-in-time guarantee: nothing at or after ``t`` can change a snapshot or a pair feature."""

from __future__ import annotations

import numpy as np
import pytest

from pymk.features.completion import CompletionConfig
from pymk.features.pairs import ROW_BLOCKS, PairScorer, pair_features
from pymk.features.rows import Rows
from pymk.features.snapshot import HALF_LIVES, USER_FEATURES, WINDOWS, build_snapshot

pytestmark = pytest.mark.unit


def random_rows(seed: int, n_users: int = 40, m: int = 400, timed: bool = True) -> Rows:
    rng = np.random.default_rng(seed)
    src = rng.integers(0, n_users, m).astype(np.int32)
    dst = ((src + rng.integers(1, n_users, m)) % n_users).astype(np.int32)
    ts = np.sort(rng.uniform(1_000.0, 90_000.0, m)) if timed else np.full(m, np.nan)
    return Rows(src, dst, ts, n_users)


def features_of(rows: Rows, t: float, users: np.ndarray) -> dict[str, np.ndarray]:
    snap = build_snapshot(rows, t)
    scorer = PairScorer(
        snap, ppr_iterations=5, embedding_dim=4, completion=CompletionConfig(), centrality=True
    )
    blocks = scorer.blocks(users)
    r, c = np.nonzero(np.ones((users.shape[0], rows.n_users), dtype=bool))
    out = {name: blocks.dense(name) for name in ROW_BLOCKS}
    out["two_hop"] = blocks.two_hop.toarray()
    out["users"] = snap.users
    out["adjacency"] = snap.adjacency.toarray()
    out["weighted"] = snap.weighted.toarray()
    out["centrality"] = snap.centrality
    out["pairs"] = pair_features(scorer, blocks, r, c)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rows_at_or_after_t_change_nothing(seed: int) -> None:
    rows = random_rows(seed)
    t = float(rows.ts[250])  # the row at t itself is "after": clock < t excludes it
    later = rows.ts >= t
    rng = np.random.default_rng(100 + seed)
    k = int(later.sum())
    # Rewire, re-time and shuffle everything at or after t; add a burst of rows between two users.
    src, dst, ts = rows.src.copy(), rows.dst.copy(), rows.ts.copy()
    src[later] = rng.integers(0, rows.n_users, k)
    dst[later] = (src[later] + 1) % rows.n_users
    ts[later] = t + rng.uniform(0.0, 5_000.0, k)
    perm = np.concatenate([np.flatnonzero(~later), rng.permutation(np.flatnonzero(later))])
    changed = Rows(src[perm], dst[perm], ts[perm], rows.n_users)
    users = np.flatnonzero(build_snapshot(rows, t).known)[:6]
    before, after = features_of(rows, t, users), features_of(changed, t, users)
    for name, value in before.items():
        np.testing.assert_array_equal(value, after[name], err_msg=name)


def test_untimed_rows_have_constant_time_features() -> None:
    rows = random_rows(3, timed=False)
    snap = build_snapshot(rows, rows.end_time())
    timey = [f"win_{w:g}" for w in WINDOWS] + [f"decay_{h:g}" for h in HALF_LIVES] + ["since_last", "age"]
    for name in timey:
        assert np.all(snap.feature(name) == 0.0), name
    assert snap.feature("deg").sum() == 2 * snap.adjacency.nnz / 2
    assert rows.clock[-1] == len(rows) - 1  # "as of t" means the first t rows


def test_time_features_follow_the_span() -> None:
    # User 2 was active only at the very start, user 3 only just before t: recency and age tell them apart.
    rows = Rows(
        np.array([0, 2, 0, 3], np.int32),
        np.array([1, 1, 1, 1], np.int32),
        np.array([0.0, 1.0, 50.0, 99.0]),
        4,
    )
    snap = build_snapshot(rows, 100.0)
    since, age = snap.feature("since_last"), snap.feature("age")
    assert since[3] < since[2] and age[2] > age[3]
    assert snap.feature("decay_0.01")[3] > snap.feature("decay_0.01")[2]
    assert len(USER_FEATURES) == snap.users.shape[1]
