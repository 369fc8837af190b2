"""``pymk.stores``: the backend a URL names, and clear errors for the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from pymk.config import load_settings
from pymk.errors import ConfigError, ServiceUnavailable
from pymk.events.deadletter import MemoryDeadLetterStore, SqliteDeadLetterStore
from pymk.events.dedupe import MemorySeenEvents, SqliteSeenEvents
from pymk.stores import deadletter_store, open_deadletter, open_seen_events, seen_events_store


@pytest.mark.unit
def test_memory_urls() -> None:
    assert isinstance(open_deadletter("memory://"), MemoryDeadLetterStore)
    assert isinstance(open_seen_events("memory://"), MemorySeenEvents)


@pytest.mark.unit
def test_sqlite_urls_create_their_files(tmp_path: Path) -> None:
    dl = open_deadletter(f"sqlite:///{tmp_path}/a/dl.sqlite")
    seen = open_seen_events(f"sqlite:///{tmp_path}/b/seen.sqlite")
    assert isinstance(dl, SqliteDeadLetterStore) and isinstance(seen, SqliteSeenEvents)
    dl.close()
    seen.close()
    assert (tmp_path / "a" / "dl.sqlite").exists() and (tmp_path / "b" / "seen.sqlite").exists()


@pytest.mark.unit
def test_default_settings_put_sqlite_files_under_home(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path / "home")
    for store in (deadletter_store(settings), seen_events_store(settings)):
        store.close()
    assert sorted(p.name for p in (tmp_path / "home").glob("*.sqlite")) == [
        "deadletter.sqlite",
        "seen-events.sqlite",
    ]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("opener", "url"),
    [
        (open_deadletter, "redis://localhost"),
        (open_deadletter, "mysql://x"),
        (open_seen_events, "postgresql://x"),
        (open_seen_events, "sqlite:///"),
        (open_seen_events, "redis://localhost:6379/0?shards=many"),
    ],
)
def test_unsupported_urls(opener: object, url: str) -> None:
    with pytest.raises(ConfigError):
        opener(url)  # type: ignore[operator]


@pytest.mark.unit
def test_unreachable_services_say_so() -> None:
    with pytest.raises(ServiceUnavailable):
        open_seen_events("redis://127.0.0.1:1/0")
    with pytest.raises(ServiceUnavailable):
        open_deadletter("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")


@pytest.mark.integration
def test_redis_url_takes_prefix_and_shards(redis_url: str, redis_prefix: str) -> None:
    import redis

    store = open_seen_events(f"{redis_url}?prefix={redis_prefix}&shards=4")
    store.mark_seen([f"id{i}" for i in range(100)])
    store.close()
    client = redis.Redis.from_url(redis_url)
    keys = sorted(k.decode() for k in client.scan_iter(match=redis_prefix + "*"))
    client.close()
    assert keys == [f"{redis_prefix}seen:{n}" for n in range(4)]


@pytest.mark.integration
def test_postgresql_url(postgres_dsn: str) -> None:
    store = open_deadletter(postgres_dsn)
    assert store.count() == 0
    store.close()
