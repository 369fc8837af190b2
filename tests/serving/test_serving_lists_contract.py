"""One contract for every precomputed-list store (embedded memory-mapped files and Redis)."""

from __future__ import annotations

import numpy as np
import pytest
from serving_helpers import COMPUTED_AT, USER_IDS, FakeRecommender, expected_items, fill

from pymk.serving.lists import ListStore

pytestmark = pytest.mark.contract


def test_nothing_committed_means_not_ready(store: ListStore) -> None:
    assert store.info() is None
    assert store.get("u1", 5) is None


def test_lists_round_trip_with_version_time_and_reasons(filled: ListStore) -> None:
    info = filled.info()
    assert info is not None and (info.model_version, info.k, info.users) == ("v0001-test", 30, len(USER_IDS))
    got = filled.get("u3", 5)
    assert got is not None
    assert (got.model_version, got.computed_at, len(got)) == ("v0001-test", COMPUTED_AT, 5)
    assert got.items.tolist() == [4, 5, 6, 7, 8]
    assert got.scores.tolist() == [10.0, 9.5, 9.0, 8.5, 8.0]
    assert got.reason_names == FakeRecommender.reason_names
    items = got.item_dicts()
    assert [i["user_id"] for i in items] == expected_items(3, 5)
    assert items[0] == {"user_id": "u4", "score": 10.0, "reasons": {"mutual_connections": 30, "ppr": 0.125}}
    assert items[1]["reasons"] == {"mutual_connections": 29}
    assert np.isnan(got.reasons[1, 1]) and got.reasons[0, 1] == np.float32(0.125)


def test_k_cuts_and_never_pads(filled: ListStore) -> None:
    full = filled.get("u0", 200)
    assert full is not None and len(full) == 30 and len(full.item_dicts()) == 30
    one = filled.get("u0", 1)
    assert one is not None and [i["user_id"] for i in one.item_dicts()] == ["u1"]
    empty = filled.get("u7", 20)
    assert empty is not None and len(empty) == 0 and empty.item_dicts() == []


def test_unicode_and_unknown_ids(filled: ListStore) -> None:
    got = filled.get("slash/ü", 3)
    assert got is not None and [i["user_id"] for i in got.item_dicts()] == expected_items(51, 3)
    assert filled.get("nobody", 3) is None
    many = filled.get_many(["u1", "nobody", "with space"], 2)
    assert many[1] is None
    assert [[i["user_id"] for i in m.item_dicts()] for m in (many[0], many[2]) if m] == [
        expected_items(1, 2),
        expected_items(50, 2),
    ]


def test_a_new_commit_replaces_the_lists_after_refresh(filled: ListStore) -> None:
    class Next(FakeRecommender):
        model_version = "v0002-test"

    from pymk.serving.batch import precompute

    precompute(Next(len(USER_IDS)), filled, USER_IDS, k=10, clock=lambda: COMPUTED_AT + 60)
    filled.refresh()
    assert filled.refresh() is False  # nothing new since
    info = filled.info()
    assert info is not None and (info.model_version, info.k) == ("v0002-test", 10)
    got = filled.get("u3", 20)
    assert got is not None and (got.model_version, got.computed_at, len(got)) == (
        "v0002-test",
        COMPUTED_AT + 60,
        10,
    )


def test_a_failed_write_changes_nothing_visible(filled: ListStore) -> None:
    before = filled.info()
    with pytest.raises(RuntimeError), filled.writer("v0003-broken", USER_IDS, 5):
        raise RuntimeError("scoring failed")
    assert filled.info() == before


def test_width_over_200_is_refused(store: ListStore) -> None:
    with pytest.raises(ValueError, match="k must be"):
        store.writer("v", USER_IDS, 201)


def test_lists_wider_than_the_store_are_refused(store: ListStore) -> None:
    with store.writer("v", USER_IDS, 5) as w, pytest.raises(ValueError, match="do not fit"):
        w.write(np.array([0]), FakeRecommender(len(USER_IDS)).recommend(np.array([0]), 6), 0.0)


def test_refill_is_idempotent(filled: ListStore) -> None:
    fill(filled)
    got = filled.get("u3", 2)
    assert got is not None and [i["user_id"] for i in got.item_dicts()] == expected_items(3, 2)
