"""Drift profiles on a handmade stream whose distributions can be counted by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from pymk.monitoring.profile import EventData, Profile, ProfileError, build_profile

pytestmark = pytest.mark.unit
DAY = 86_400.0


def _stream() -> EventData:
    # (day, type, actor, target): users 0 and 1 are old, user 2 signs up inside the last two days.
    rows = [
        (0.0, "signup", 0, -1),
        (0.0, "signup", 1, -1),
        (1.0, "connect", 0, 1),
        (8.5, "message", 0, 1),
        (9.0, "signup", 2, -1),
        (9.2, "connect", 2, 0),
        (9.5, "message", 1, 0),
        (9.8, "message", 2, 0),
    ]
    names = ("signup", "connect", "message")
    return EventData(
        ts=np.array([r[0] * DAY for r in rows]),
        type=np.array([names.index(r[1]) for r in rows]),
        type_names=names,
        actor=np.array([r[2] for r in rows]),
        target=np.array([r[3] for r in rows]),
    )


def test_window_distributions_by_hand() -> None:
    profile = build_profile(_stream(), window_s=2 * DAY)
    w = profile.window
    assert (w.start, w.end) == (pytest.approx(7.8 * DAY), 9.8 * DAY)
    assert (w.events, w.active_users) == (5, 3)
    assert profile.categorical["event_type"] == {"message": 3, "signup": 1, "connect": 1}
    assert profile.categorical["new_user"] == {"new": 1, "returning": 2}
    # Users 0, 1, 2 acted 1, 1 and 3 times in two days.
    assert profile.numeric["activity"].tolist() == [0.5, 0.5, 1.5]
    # Partners up to the end: 0-1 and 0-2.
    assert profile.numeric["degree"].tolist() == [2.0, 1.0, 1.0]
    assert "score" not in profile.numeric  # no model given


def test_end_moves_the_window_back() -> None:
    profile = build_profile(_stream(), window_s=2 * DAY, end=9.0 * DAY)
    assert profile.window.events == 2 and profile.categorical["event_type"] == {"message": 1, "signup": 1}
    assert profile.categorical["new_user"] == {"new": 1, "returning": 1}  # user 2 signed up at 9.0
    assert profile.numeric["degree"].tolist() == [1.0, 0.0]  # user 2's connect comes later


def test_samples_are_capped_uniformly() -> None:
    n = 5000
    data = EventData(
        ts=np.arange(n, dtype=np.float64),
        type=np.zeros(n, dtype=np.int64),
        type_names=("like",),
        actor=np.arange(n),
        target=(np.arange(n) + 1) % n,
    )
    profile = build_profile(data, window_s=float(n + 1), sample_size=100, seed=3)
    assert profile.window.active_users == n and profile.numeric["degree"].shape == (100,)
    assert set(profile.numeric["degree"].tolist()) == {2.0}  # a ring: everyone has two partners


def test_untimed_data_has_no_window() -> None:
    data = _stream()
    untimed = EventData(np.full(len(data), np.nan), data.type, data.type_names, data.actor, data.target)
    profile = build_profile(untimed, window_s=DAY)
    assert profile.window.start is None and profile.window.events == len(data)
    assert "new_user" not in profile.categorical and "activity" not in profile.numeric


def test_from_event_log_table() -> None:
    table = pa.table(
        {
            "ts": pa.array([1.0, 2.0, None], pa.float64()),
            "type": ["signup", "like", "like"],
            "actor_idx": pa.array([0, 0, 1], pa.int32()),
            "target_idx": pa.array([None, 1, 0], pa.int32()),
        }
    )
    data = EventData.from_table(table)
    assert data.type_names[data.type[1]] == "like" and data.target.tolist() == [-1, 1, 0]
    assert np.isnan(data.ts[2]) and data.timed
    assert data.rows(2).src.tolist() == [0, 1]


def test_feedback_events_are_not_profiled() -> None:
    base = {
        "ts": pa.array([1.0 * DAY, 1.5 * DAY, 2.0 * DAY], pa.float64()),
        "type": ["signup", "like", "message"],
        "actor_idx": pa.array([0, 0, 1], pa.int32()),
        "target_idx": pa.array([None, 1, 0], pa.int32()),
    }
    feedback = {
        "ts": pa.array([1.2 * DAY, 1.3 * DAY, 2.5 * DAY], pa.float64()),
        "type": ["impression", "click", "impression"],
        "actor_idx": pa.array([2, 2, 3], pa.int32()),  # viewers active only through feedback
        "target_idx": pa.array([0, 0, 1], pa.int32()),
    }
    plain = EventData.from_table(pa.table(base))
    mixed = EventData.from_table(pa.concat_tables([pa.table(base), pa.table(feedback)]))
    assert len(mixed) == len(plain) == 3 and "impression" not in mixed.type_names
    a, b = build_profile(plain, window_s=2 * DAY), build_profile(mixed, window_s=2 * DAY)
    assert a.categorical == b.categorical and a.window == b.window
    assert a.numeric.keys() == b.numeric.keys()
    assert all(np.array_equal(a.numeric[k], b.numeric[k]) for k in a.numeric)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    profile = build_profile(_stream(), window_s=2 * DAY)
    path = profile.save(tmp_path)
    assert path == tmp_path / "profile.json"
    loaded = Profile.load(tmp_path)
    assert loaded.window == profile.window and loaded.categorical == profile.categorical
    assert {k: v.tolist() for k, v in loaded.numeric.items()} == {
        k: v.tolist() for k, v in profile.numeric.items()
    }


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="no drift profile"):
        Profile.load(tmp_path)
    (tmp_path / "profile.json").write_text(json.dumps({"format_version": 99}))
    with pytest.raises(ProfileError, match="format_version 99"):
        Profile.load(tmp_path)
    (tmp_path / "profile.json").write_text("{not json")
    with pytest.raises(ProfileError, match="cannot read"):
        Profile.load(tmp_path)
