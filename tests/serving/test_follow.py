"""A server following the online store's delta log: fresh graph changes and cold start, in process."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from serving_helpers import expected_items, fill

from pymk.errors import NotFound, ServiceUnavailable
from pymk.events.schema import Event, EventType
from pymk.online import MemoryOnlineStore
from pymk.serving.exclusions import MemoryExclusions
from pymk.serving.follow import DeltaFollower
from pymk.serving.lists import StoredList
from pymk.serving.lists_mmap import MmapListStore
from pymk.serving.service import RecommendationService

pytestmark = pytest.mark.unit


def _e(i: int, kind: str, actor: str, target: str | None = None) -> Event:
    return Event(f"e{i}", 1_000.0 + i, EventType(kind), actor, target)  # event times long before the lists


def _ids(found: StoredList) -> list[str]:
    return [d["user_id"] for d in found.item_dicts()]


@pytest.fixture
def parts(tmp_path: Path) -> tuple[MemoryOnlineStore, DeltaFollower, RecommendationService]:
    store = MmapListStore(tmp_path / "lists")
    fill(store)
    online, exclusions = MemoryOnlineStore(), MemoryExclusions()
    follower = DeltaFollower(online, exclusions, interval_s=0.01)
    service = RecommendationService(store, exclusions=exclusions, closers=[follower.close])
    return online, follower, service


def test_connect_block_delete_and_undo_reach_the_served_lists(
    parts: tuple[MemoryOnlineStore, DeltaFollower, RecommendationService],
) -> None:
    online, follower, service = parts
    first, second, third = expected_items(3, 3)
    online.apply([_e(1, "connect", "u3", first), _e(2, "block", second, "u3"), _e(3, "delete_user", third)])
    assert follower.poll() == 3 and follower.seq == 3
    assert _ids(service.one("u3", 3)) == expected_items(3, 6)[3:]
    with pytest.raises(NotFound):
        service.one(third, 3)
    online.apply([_e(4, "disconnect", "u3", first), _e(5, "unblock", second, "u3")])
    assert follower.poll() == 2
    assert _ids(service.one("u3", 2)) == [first, second]
    assert follower.poll() == 0


def test_catch_up_in_pages_then_follow_in_the_background(
    parts: tuple[MemoryOnlineStore, DeltaFollower, RecommendationService],
) -> None:
    online, follower, service = parts
    follower.page = 7
    online.apply([_e(i, "connect", f"n{i}", f"m{i}") for i in range(20)])
    follower.start()
    try:
        assert follower.seq == 20 and follower.knows("n3") and follower.knows("m19")
        friend = expected_items(5, 1)[0]
        online.apply([_e(99, "connect", friend, "u5")])
        deadline = time.monotonic() + 2
        while friend in _ids(service.one("u5", 3)):
            assert time.monotonic() < deadline, "the background follower never applied the delta"
            time.sleep(0.005)
    finally:
        service.close()


def test_a_failing_store_is_retried_and_serving_goes_on(tmp_path: Path) -> None:
    class Flaky(MemoryOnlineStore):
        down = True

        def deltas_since(self, seq: int, limit: int = 10_000) -> list:  # type: ignore[type-arg]
            if self.down:
                raise ServiceUnavailable("down")
            return super().deltas_since(seq, limit)

    online = Flaky()
    follower = DeltaFollower(online, MemoryExclusions(), interval_s=0.01).start()
    try:
        online.apply([_e(1, "connect", "a", "b")])
        time.sleep(0.05)
        assert follower.seq == 0
        online.down = False
        deadline = time.monotonic() + 2
        while follower.seq < 1:
            assert time.monotonic() < deadline
            time.sleep(0.005)
    finally:
        follower.close()


def test_cold_start_only_for_users_the_stream_knows(
    parts: tuple[MemoryOnlineStore, DeltaFollower, RecommendationService],
) -> None:
    online, follower, service = parts
    popular = service.store.get("u0", 30)
    assert popular is not None
    service.cold_start = lambda user, k: popular if follower.knows(user) else None
    with pytest.raises(NotFound):
        service.one("newcomer", 5)
    online.apply([_e(1, "connect", "newcomer", "u1"), _e(2, "signup", "quiet")])
    follower.poll()
    got = _ids(service.one("newcomer", 5))
    assert len(got) == 5 and "u1" not in got and "newcomer" not in got
    assert got == [u for u in expected_items(0, 6) if u != "u1"][:5]
    assert len(service.one("quiet", 3)) == 3  # a signup only: known from its features, not the log
    online.apply([_e(3, "delete_user", "newcomer")])
    follower.poll()
    with pytest.raises(NotFound):
        service.one("newcomer", 5)
