"""One contract for every seen-event store: memory, SQLite and Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pymk.events.dedupe import MemorySeenEvents, SeenEvents, SqliteSeenEvents

pytestmark = pytest.mark.contract


@dataclass
class Backend:
    """The store under test: ``open()`` opens the same underlying storage each time (memory: the
    same object)."""

    open: Callable[[], SeenEvents]


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.integration)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    opened: list[SeenEvents] = []
    if request.param == "memory":
        memory = MemorySeenEvents()

        def opener() -> SeenEvents:
            return memory
    elif request.param == "sqlite":

        def opener() -> SeenEvents:
            opened.append(SqliteSeenEvents(tmp_path / "seen.sqlite"))
            return opened[-1]
    else:
        import redis

        from pymk.events.dedupe_redis import RedisSeenEvents

        url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")

        def opener() -> SeenEvents:
            opened.append(RedisSeenEvents(redis.Redis.from_url(url), prefix=prefix, shards=16))
            return opened[-1]

    yield Backend(opener)
    for store in opened:
        store.close()


def test_new_ids_are_new(backend: Backend) -> None:
    store = backend.open()
    assert store.filter_new([]) == []
    assert store.filter_new(["a", "b", "c"]) == [True, True, True]


def test_only_the_first_occurrence_in_a_call_is_new(backend: Backend) -> None:
    store = backend.open()
    assert store.filter_new(["a", "b", "a", "c", "b", "a"]) == [True, True, False, True, False, False]


def test_filter_records_nothing(backend: Backend) -> None:
    store = backend.open()
    assert store.filter_new(["a", "b"]) == [True, True]
    assert store.filter_new(["a", "b"]) == [True, True]


def test_marked_ids_are_seen(backend: Backend) -> None:
    store = backend.open()
    store.mark_seen(["a", "c"])
    assert store.filter_new(["a", "b", "c", "d", "b"]) == [False, True, False, True, False]
    store.mark_seen(["a", "b", "b"])  # marking again, and repeats, are fine
    assert store.filter_new(["a", "b", "c", "d"]) == [False, False, False, True]
    store.mark_seen([])


def test_awkward_ids(backend: Backend) -> None:
    ids = [
        "",
        " ",
        "ü",
        "a\nb",
        "a,b",
        '"q"',
        "x" * 500,
        "日本",
        "emoji 🎉",
        "a\tb",
        "a\x00b",
        "a",
        "a\x00c",
        "\\u0000",
    ]
    store = backend.open()
    assert store.filter_new(ids) == [True] * len(ids)
    store.mark_seen(ids[::2])
    assert store.filter_new(ids) == [i % 2 == 1 for i in range(len(ids))]
    assert store.filter_new([i + "!" for i in ids]) == [True] * len(ids)


def test_large_batches(backend: Backend) -> None:
    ids = [f"{i:032x}" for i in range(120_000)]
    store = backend.open()
    store.mark_seen(ids[::3])
    flags = store.filter_new(ids)
    assert flags == [i % 3 != 0 for i in range(len(ids))]


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("redis", marks=pytest.mark.integration)], indirect=True
)
def test_seen_ids_survive_reopening(backend: Backend) -> None:
    """Durable stores only (memory:// forgets by design)."""
    first = backend.open()
    first.mark_seen(["a", "b"])
    first.close()
    assert backend.open().filter_new(["a", "b", "c"]) == [False, False, True]
