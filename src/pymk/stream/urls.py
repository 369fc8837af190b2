"""Event sources and sinks from URLs: the only place in ``pymk.stream`` that knows every backend.

- ``file:///abs/events.jsonl`` or ``file:relative/events.jsonl`` — JSONL stream file (embedded default).
  Source parameters: ``group`` (default ``pymk``), ``state`` (position file; default next to the stream),
  ``follow`` (``1``/``0``, default ``1``).
- ``redis://host:port/db?stream=pymk:events&group=pymk`` — Redis Streams. Source parameters:
  ``consumer`` (default ``<host>-<pid>``), ``claim_idle`` and ``claim_every`` (seconds).
- ``kafka://host:port[,host:port]?topic=pymk.events&group=pymk`` — Kafka; ``partitions=N`` creates the
  topic with N partitions when it does not exist; parameters with a dot are librdkafka settings
  (``session.timeout.ms=6000``: Tansu holds a group join for about half the session timeout).

Drivers (redis-py, confluent-kafka) are imported only when their URL is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from pymk.errors import ConfigError, ServiceUnavailable
from pymk.stream.base import EventSink, EventSource

if TYPE_CHECKING:
    import redis

_TRUE = {"1", "true", "yes", "on"}


def _split(url: str) -> tuple[str, dict[str, str], str]:
    """Scheme, query parameters (last value wins), and the URL without the query."""
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    return parts.scheme.lower(), query, url.split("?", 1)[0]  # not urlunsplit: it adds "//" to file:


def _float(query: dict[str, str], name: str, default: float) -> float:
    try:
        return float(query.pop(name, default))
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {query.get(name)!r}") from exc


def _file_path(url: str) -> Path:
    parts = urlsplit(url)
    if parts.netloc or not parts.path:
        raise ConfigError(f"file URL must be file:///absolute/path or file:relative/path, got {url!r}")
    return Path(parts.path)


def _redis_client(url: str, query: dict[str, str]) -> redis.Redis:
    try:
        import redis
    except ImportError as exc:
        raise ConfigError("redis URLs need redis-py: pip install 'pymk[services]'") from exc
    parts = urlsplit(url)
    client = redis.Redis.from_url(urlunsplit(parts._replace(query=urlencode(query))))
    try:
        client.ping()
    except redis.RedisError as exc:
        raise ServiceUnavailable(f"cannot reach Redis at {parts.hostname}:{parts.port}: {exc}") from exc
    return client


def _kafka(url: str, query: dict[str, str]) -> tuple[str, str, dict[str, str]]:
    bootstrap = urlsplit(url).netloc
    if not bootstrap:
        raise ConfigError(f"kafka URL names no broker: {url!r}")
    try:
        from pymk.stream.kafka import ensure_topic
    except ImportError as exc:
        raise ConfigError("kafka URLs need confluent-kafka: pip install 'pymk[services]'") from exc
    topic = query.pop("topic", "pymk.events")
    if "partitions" in query:
        ensure_topic(bootstrap, topic, int(_float(query, "partitions", 1)))
    settings = {name: query.pop(name) for name in [n for n in query if "." in n]}
    return bootstrap, topic, settings


def _leftover(url: str, query: dict[str, str]) -> None:
    if query:
        raise ConfigError(f"unknown parameters in {url!r}: {', '.join(sorted(query))}")


def open_source(url: str, *, consumer: str | None = None) -> EventSource:
    """The source ``url`` names; ``consumer`` overrides the Redis consumer name.

    Raises :class:`ConfigError` for an unsupported or malformed URL, :class:`ServiceUnavailable` when
    the service cannot be reached.
    """
    scheme, query, base = _split(url)
    group = query.pop("group", "pymk")
    if scheme == "file":
        from pymk.stream.file import FileSource

        state = query.pop("state", None)
        follow = query.pop("follow", "1").lower() in _TRUE
        _leftover(url, query)
        path = _file_path(base)
        return FileSource(path, group=group, state_path=Path(state) if state else None, follow=follow)
    if scheme in {"redis", "rediss"}:
        from pymk.stream.redis_streams import RedisStreamSource

        stream = query.pop("stream", "pymk:events")
        named = query.pop("consumer", None)
        claim_idle, claim_every = _float(query, "claim_idle", 30.0), _float(query, "claim_every", 5.0)
        client = _redis_client(base, query)
        return RedisStreamSource(
            client,
            stream=stream,
            group=group,
            consumer=consumer or named,
            claim_idle=claim_idle,
            claim_every=claim_every,
        )
    if scheme == "kafka":
        bootstrap, topic, settings = _kafka(base, query)
        _leftover(url, query)
        from pymk.stream.kafka import KafkaSource

        return KafkaSource(bootstrap, topic=topic, group=group, config=settings)
    raise ConfigError(f"unsupported events_url {url!r}: use file:..., redis://... or kafka://...")


def open_sink(url: str) -> EventSink:
    """The sink ``url`` names (same URLs as :func:`open_source`; consumer parameters are ignored)."""
    scheme, query, base = _split(url)
    for name in ("group", "consumer", "claim_idle", "claim_every", "state", "follow"):
        query.pop(name, None)
    if scheme == "file":
        from pymk.stream.file import FileSink

        _leftover(url, query)
        return FileSink(_file_path(base))
    if scheme in {"redis", "rediss"}:
        from pymk.stream.redis_streams import RedisStreamSink

        stream = query.pop("stream", "pymk:events")
        return RedisStreamSink(_redis_client(base, query), stream=stream)
    if scheme == "kafka":
        bootstrap, topic, _consumer_settings = _kafka(base, query)  # consumer settings: not ours
        _leftover(url, query)
        from pymk.stream.kafka import KafkaSink

        return KafkaSink(bootstrap, topic=topic)
    raise ConfigError(f"unsupported events_url {url!r}: use file:..., redis://... or kafka://...")
