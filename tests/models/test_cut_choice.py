"""The per-data-set cut choice of ``benchmarks/cut_choice.py`` and the row prefix it fits on."""

from __future__ import annotations

import numpy as np
import pytest
from pipeline_helpers import FAST, community_rows

from cut_choice import choose_cuts, hits  # benchmarks/cut_choice.py, on pytest's pythonpath
from pymk.features.snapshot import build_snapshot
from pymk.models.pipeline import PymkPipeline
from pymk.models.training_set import new_pair_keys

pytestmark = pytest.mark.unit


def test_rows_before_a_time_keep_only_earlier_rows_and_every_user() -> None:
    rows = community_rows(3)
    t = rows.quantile_time(0.8)
    early = rows.before(t)
    assert early.n_users == rows.n_users and len(early) == int((rows.ts < t).sum()) > 0
    assert early.ts.max() < t and np.array_equal(early.src, rows.src[rows.ts < t])


def test_hits_count_the_new_partners_among_each_users_top_k() -> None:
    rows = community_rows(4)
    t = rows.quantile_time(0.8)
    pipe = PymkPipeline(FAST)
    pipe.fit(rows.before(t))
    snap = build_snapshot(rows, t)
    keys = new_pair_keys(rows, snap, rows.end_time())
    users = np.unique(keys // rows.n_users)[:10]
    found = hits(pipe, snap, keys, users)
    scores = pipe.score(users)
    for i, u in enumerate(users):
        row = scores[i].astype(np.float64)
        row[snap.adjacency[u].indices] = -np.inf
        row[u] = -np.inf
        top = np.argsort(-row, kind="stable")[:20]
        truth = keys[keys // rows.n_users == u] % rows.n_users
        assert found[i] == np.isin(top, truth).sum()


def test_the_same_cut_set_offered_twice_is_no_gain_and_keeps_the_default() -> None:
    rows = community_rows(5)
    cuts, found = choose_cuts(FAST, rows, FAST.cuts, z=None)
    assert cuts == FAST.cuts and found["alt"] == 0.0 and found["z"] == 0.0
    assert found["recall_default"] == found["recall_alt"] > 0
