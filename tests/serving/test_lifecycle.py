"""Model lifecycle and fresh state in the request path, with test-double models: hot swap, A/B, budget,
readiness, the in-memory exclusion source."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from serving_helpers import USER_IDS, FakeRecommender, fill

from pymk.errors import NotFound
from pymk.serving.exclusions import MemoryExclusions
from pymk.serving.lifecycle import LoadedModel, ModelSlot, ab_bucket
from pymk.serving.lists_mmap import MmapListStore
from pymk.serving.recommender import TopK
from pymk.serving.service import RecommendationService

pytestmark = pytest.mark.unit


class VersionedFake(FakeRecommender):
    """The fake's lists shifted by ``shift``, under its own version; optionally slow."""

    def __init__(self, version: str, shift: int, delay: float = 0.0) -> None:
        super().__init__(len(USER_IDS))
        self.model_version = version  # type: ignore[misc]
        self.shift, self.delay = shift, delay

    def recommend(self, users: np.ndarray, k: int) -> TopK:
        time.sleep(self.delay)
        top = super().recommend(users, k)
        items = np.where(top.items >= 0, (top.items + self.shift) % self.n, -1).astype(np.int32)
        items[items == np.asarray(users)[:, None]] = (items[items == np.asarray(users)[:, None]] + 1) % self.n
        return TopK(items, top.scores, top.reasons, top.reason_names)


def loaded(version: str, shift: int, delay: float = 0.0) -> LoadedModel:
    return LoadedModel(version, VersionedFake(version, shift, delay), USER_IDS, as_of=time.time())


class Registry:
    """The two callables a ModelSlot needs, over a settable active version; counts loads."""

    def __init__(self, active: str | None, load_delay: float = 0.0) -> None:
        self.current = active
        self.loads: list[str] = []
        self.load_delay = load_delay
        self.broken: set[str] = set()

    def active(self) -> str | None:
        return self.current

    def load(self, version: str) -> LoadedModel:
        self.loads.append(version)
        time.sleep(self.load_delay)
        if version in self.broken:
            raise RuntimeError(f"cannot read {version}")
        return loaded(version, shift=int(version[1:]))


def expected(user: str, version: str, k: int) -> list[str]:
    model = loaded(version, int(version[1:]))
    top = model.recommender.recommend(np.array([USER_IDS.index(user)]), k)
    return [USER_IDS[i] for i in top.items[0].tolist() if i >= 0]


def test_hot_swap_under_concurrent_requests(tmp_path: Path) -> None:
    """Every answer is whole and names exactly one version; the swap loses no request."""
    registry = Registry("v1", load_delay=0.2)
    slot = ModelSlot(registry.active, registry.load, poll_s=0.02).start()
    service = RecommendationService(MmapListStore(tmp_path / "no-lists"), models=slot, mode="realtime")
    seen: list[tuple[str, str, list[str]]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def burst(seed: int) -> None:
        rng = np.random.default_rng(seed)
        while not stop.is_set():
            user = USER_IDS[int(rng.integers(len(USER_IDS)))]
            if user == "u7":
                continue  # the fake lists nothing for u7
            try:
                found = service.one(user, 5)
                seen.append((user, found.model_version, [d["user_id"] for d in found.item_dicts()]))
            except BaseException as exc:  # noqa: BLE001 - every failure counts
                errors.append(exc)

    threads = [threading.Thread(target=burst, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    registry.current = "v2"
    time.sleep(0.6)
    stop.set()
    for t in threads:
        t.join()
    slot.close()
    assert not errors, errors[:3]
    assert {v for _, v, _ in seen} == {"v1", "v2"} and registry.loads == ["v1", "v2"]
    for user, version, items in seen[:: max(1, len(seen) // 200)]:
        assert items == expected(user, version, 5), (user, version)
    # After the swap only v2 answers.
    assert seen[-1][1] == "v2" and service.model_versions() == ["v2"]


def test_ab_split_is_stable_and_sized(tmp_path: Path) -> None:
    registry = Registry("v1")
    slot = ModelSlot(registry.active, registry.load, ab_version="v2", ab_share=0.3)
    slot.poll()
    routing = slot.routing
    assert routing.versions == ["v1", "v2"]
    ids = [f"user-{i}" for i in range(4000)]
    arms = [routing.model_for(u).version for u in ids]  # type: ignore[union-attr]
    assert 0.27 < arms.count("v2") / len(ids) < 0.33
    assert arms == [("v2" if ab_bucket(u) < 0.3 else "v1") for u in ids]
    service = RecommendationService(MmapListStore(tmp_path / "no-lists"), models=slot, mode="realtime")
    for user in USER_IDS[:20]:
        if user != "u7":
            found = service.one(user, 3)
            assert found.model_version == routing.model_for(user).version  # type: ignore[union-attr]
            assert found.source == "realtime"


def test_a_broken_version_keeps_the_old_one_serving() -> None:
    registry = Registry("v1")
    slot = ModelSlot(registry.active, registry.load)
    assert slot.poll() and slot.loaded
    registry.broken.add("v3")
    registry.current = "v3"
    assert not slot.poll()
    assert slot.routing.versions == ["v1"] and not slot.loaded


def test_ready_only_once_model_and_lists(tmp_path: Path) -> None:
    store = MmapListStore(tmp_path / "lists")
    registry = Registry(None)
    slot = ModelSlot(registry.active, registry.load)
    service = RecommendationService(store, models=slot, refresh_s=0.0)
    assert service.ready() is None  # no lists
    fill(store)
    assert service.ready() is not None  # lists, and no version to wait for
    registry.current = "v1"
    slot.wanted = "v1"
    assert service.ready() is None  # the registry names a version not loaded yet
    slot.poll()
    assert service.ready() is not None


def test_hybrid_prefers_the_users_model_within_budget(tmp_path: Path) -> None:
    """Lists of v0001-test, active version v2: v2 answers in real time; too slow, the lists answer."""
    store = MmapListStore(tmp_path / "lists")
    fill(store)
    registry = Registry("v2")
    slot = ModelSlot(registry.active, registry.load)
    slot.poll()
    service = RecommendationService(store, models=slot, budget_s=5.0, realtime_queue=1)
    found = service.one("u3", 4)
    assert (found.source, found.model_version) == ("realtime", "v2")
    assert [d["user_id"] for d in found.item_dicts()] == expected("u3", "v2", 4)
    slot.routing = type(slot.routing)(loaded("v2", 2, delay=0.5))
    service.budget_s = 0.01
    started = time.perf_counter()
    late = service.one("u3", 4)
    assert time.perf_counter() - started < 0.4
    assert (late.source, late.model_version) == ("precomputed", "v0001-test") and service.late == 1
    # The model still busy with u3: u4 waits in the queue past the budget, the lists answer.
    busy = service.one("u4", 4)
    assert busy.source == "precomputed" and service.late == 2
    # The queue full (u4 still waiting in it): u5 is refused at once, the lists answer.
    full = service.one("u5", 4)
    assert full.source == "precomputed" and service.late == 3
    service.close()


def test_memory_exclusions() -> None:
    ex = MemoryExclusions()
    assert ex.hidden("a", 0.0) == frozenset()
    ex.connect("a", "b", 100.0)
    ex.block("c", "a", 200.0)
    assert ex.observe({"type": "delete_user", "actor": "d", "target": None, "ts": "1970-01-01T00:05:00Z"})
    assert not ex.observe({"type": "message", "actor": "a", "target": "e", "ts": 400})
    assert ex.hidden("a", 0.0) == {"b", "c", "d"}
    assert ex.hidden("a", 150.0) == {"c", "d"} and ex.hidden("b", 0.0) == {"a", "d"}
    assert ex.hidden("a", 301.0) == frozenset()
    assert ex.deleted("d") and not ex.deleted("a")
    ex.forget(150.0)
    assert ex.hidden("a", 0.0) == {"c", "d"}


def test_deleted_user_gets_no_list(tmp_path: Path) -> None:
    store = MmapListStore(tmp_path / "lists")
    fill(store)
    ex = MemoryExclusions()
    service = RecommendationService(store, exclusions=ex)
    ex.delete_user("u3", time.time())
    with pytest.raises(NotFound):
        service.one("u3", 5)
    assert "u3" not in [d["user_id"] for d in service.one("u2", 5).item_dicts()]
    assert len(service.one("u2", 5)) == 5


def test_a_broken_ab_version_turns_the_split_off() -> None:
    registry = Registry("v1")
    registry.broken.add("v9")
    slot = ModelSlot(registry.active, registry.load, ab_version="v9", ab_share=0.5)
    assert slot.poll() and slot.loaded and slot.routing.versions == ["v1"]
    assert all(slot.routing.model_for(f"x{i}").version == "v1" for i in range(50))  # type: ignore[union-attr]
    assert not slot.poll() and registry.loads == ["v1", "v9"]  # not retried
