"""Composition root for the ingestion stores: the only place that knows which backend a URL names.

``memory://`` (in-process), ``sqlite:///path`` (embedded; relative paths are anchored under
``PYMK_HOME`` by :meth:`~pymk.config.Settings.resolve`), ``postgresql://...`` (dead letters) and
``redis://host:port/db?prefix=pymk:&shards=256`` (seen event ids); precomputed lists live under
``mmap:///lists`` or ``redis://...``. Real-service drivers are imported only when their URL is used, so
the embedded defaults need neither psycopg nor redis.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from pymk.config import Settings
from pymk.errors import ConfigError, ServiceUnavailable
from pymk.events.deadletter import DeadLetterStore, MemoryDeadLetterStore, SqliteDeadLetterStore
from pymk.events.dedupe import MemorySeenEvents, SeenEvents, SqliteSeenEvents

if TYPE_CHECKING:
    from pymk.serving.lists import ListStore

_SQLITE = "sqlite:///"


def _scheme(url: str) -> str:
    return urlsplit(url).scheme.lower()


def _sqlite_path(url: str) -> Path:
    path = url[len(_SQLITE) :]
    if not path:
        raise ConfigError(f"sqlite URL names no file: {url!r}")
    return Path(path)


def _missing_driver(url: str, package: str) -> ConfigError:
    return ConfigError(f"{url.split(':', 1)[0]} URLs need {package}: pip install 'pymk[services]'")


def open_deadletter(url: str) -> DeadLetterStore:
    """The dead-letter store ``url`` names (``memory://``, ``sqlite:///...``, ``postgresql://...``).

    Raises :class:`ConfigError` for an unsupported URL, :class:`ServiceUnavailable` when the server
    cannot be reached.
    """
    scheme = _scheme(url)
    if scheme == "memory":
        return MemoryDeadLetterStore()
    if url.startswith(_SQLITE):
        return SqliteDeadLetterStore(_sqlite_path(url))
    if scheme in {"postgresql", "postgres"}:
        try:
            from pymk.events.deadletter_postgres import PostgresDeadLetterStore
        except ImportError as exc:
            raise _missing_driver(url, "psycopg") from exc
        return PostgresDeadLetterStore(url)
    raise ConfigError(f"unsupported deadletter_url {url!r}: use memory://, sqlite:///... or postgresql://...")


def open_seen_events(url: str) -> SeenEvents:
    """The seen-event-id store ``url`` names (``memory://``, ``sqlite:///...``, ``redis://...``).

    Redis URLs take two extra query parameters: ``prefix`` (key prefix, default ``pymk:``) and
    ``shards`` (number of sets, default 256). Raises :class:`ConfigError` for an unsupported URL,
    :class:`ServiceUnavailable` when Redis cannot be reached.
    """
    scheme = _scheme(url)
    if scheme == "memory":
        return MemorySeenEvents()
    if url.startswith(_SQLITE):
        return SqliteSeenEvents(_sqlite_path(url))
    if scheme in {"redis", "rediss"}:
        try:
            import redis

            from pymk.events.dedupe_redis import RedisSeenEvents
        except ImportError as exc:
            raise _missing_driver(url, "redis") from exc
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        prefix = query.pop("prefix", ["pymk:"])[-1]
        try:
            shards = int(query.pop("shards", ["256"])[-1])
        except ValueError as exc:
            raise ConfigError(f"shards in {url!r} must be an integer") from exc
        client = redis.Redis.from_url(urlunsplit(parts._replace(query=urlencode(query, doseq=True))))
        try:
            client.ping()
        except redis.RedisError as exc:
            raise ServiceUnavailable(f"cannot reach Redis at {parts.hostname}:{parts.port}: {exc}") from exc
        return RedisSeenEvents(client, prefix=prefix, shards=shards)
    raise ConfigError(f"unsupported dedupe_url {url!r}: use memory://, sqlite:///... or redis://...")


def deadletter_store(settings: Settings) -> DeadLetterStore:
    """The dead-letter store of ``settings.deadletter_url``, SQLite paths anchored under ``home``."""
    return open_deadletter(settings.resolve(settings.deadletter_url))


def seen_events_store(settings: Settings) -> SeenEvents:
    """The seen-event store of ``settings.dedupe_url``, SQLite paths anchored under ``home``."""
    return open_seen_events(settings.resolve(settings.dedupe_url))


def open_list_store(url: str, home: Path) -> ListStore:
    """The precomputed-list store ``url`` names: ``mmap:///DIR`` (embedded; relative DIR under ``home``,
    ``mmap:////abs`` absolute) or ``redis://host:port/db?prefix=pymk:``.

    Raises :class:`ConfigError` for an unsupported URL, :class:`ServiceUnavailable` when Redis cannot be
    reached.
    """
    scheme = _scheme(url)
    if scheme == "mmap":
        path = Path(url[len("mmap:///") :]) if url.startswith("mmap:///") else Path()
        if not str(path) or str(path) == ".":
            raise ConfigError(f"mmap URL names no directory: {url!r}")
        from pymk.serving.lists_mmap import MmapListStore

        return MmapListStore(path if path.is_absolute() else home / path)
    if scheme in {"redis", "rediss"}:
        try:
            import redis

            from pymk.serving.lists_redis import RedisListStore
        except ImportError as exc:
            raise _missing_driver(url, "redis") from exc
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        prefix = query.pop("prefix", ["pymk:"])[-1]
        client = redis.Redis.from_url(urlunsplit(parts._replace(query=urlencode(query, doseq=True))))
        try:
            client.ping()
        except redis.RedisError as exc:
            raise ServiceUnavailable(f"cannot reach Redis at {parts.hostname}:{parts.port}: {exc}") from exc
        return RedisListStore(client, prefix=prefix)
    raise ConfigError(f"unsupported lists_url {url!r}: use mmap:///DIR or redis://...")


def list_store(settings: Settings) -> ListStore:
    """The precomputed-list store of ``settings.lists_url``."""
    return open_list_store(settings.lists_url, settings.home)
