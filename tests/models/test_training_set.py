"""Training labels follow DESIGN §4's "new pair between known users", shifted into the train window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pymk.evaluation.protocol import load_interactions, split_interactions
from pymk.evaluation.pymk_model import PymkModel
from pymk.evaluation.runner import evaluate_model
from pymk.features.rows import Rows
from pymk.features.snapshot import build_snapshot
from pymk.io.formats import Format
from pymk.models.training_set import new_pair_keys, sample_negatives

pytestmark = pytest.mark.unit


def test_new_pairs_are_unlinked_known_users_only() -> None:
    # Before t=3: 0-1, 1-2. After: 0-2 (new), 1-0 (already linked), 2-3 (3 unknown), 1-1 (self).
    rows = Rows(
        np.array([0, 1, 0, 1, 2, 1], np.int32),
        np.array([1, 2, 2, 0, 3, 1], np.int32),
        np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        4,
    )
    snap = build_snapshot(rows, 3.0)
    keys = new_pair_keys(rows, snap, rows.end_time())
    assert keys.tolist() == [0 * 4 + 2, 2 * 4 + 0]


def test_negative_sampling_keeps_every_positive_and_k_negatives_per_user() -> None:
    rows = np.repeat(np.arange(3), [10, 2, 6])
    y = np.zeros(18, np.int32)
    y[[0, 5, 11]] = 1
    keep = sample_negatives(rows, y, 3, np.random.default_rng(0))
    assert keep[[0, 5, 11]].all()
    kept_negatives = np.bincount(rows[keep & (y == 0)], minlength=3)
    assert kept_negatives.tolist() == [3, 1, 3]


def test_pymk_runs_under_the_evaluation_harness(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    n, m = 80, 2500
    src = rng.integers(0, n, m)
    dst = (src // 20) * 20 + rng.integers(0, 20, m)
    lines = [
        f"{a} {b} {t}" for a, b, t in zip(src, dst, np.sort(rng.integers(0, 10**6, m)), strict=True) if a != b
    ]
    path = tmp_path / "g.txt"
    path.write_text("\n".join(lines) + "\n")
    split = split_interactions(load_interactions(path, Format.SNAP_TEMPORAL))
    result = evaluate_model(split, PymkModel(), [10, 20])
    assert 0.0 <= result["recall@20"] <= 1.0 and result["recall@20"] >= result["recall@10"]
