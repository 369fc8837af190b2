"""The online feature store: fresh activity features and graph deltas, written by the stream worker
and read by serving. Contract in :mod:`pymk.online.base`; :func:`open_online` picks the backend.

Why a package of its own rather than ``pymk.features``: the offline features (point-in-time snapshots
for training) and this store share definitions, not machinery — this one is hot state keyed by user,
updated event by event, with a delta log for servers. It depends only on ``pymk.events``.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from pymk.errors import ConfigError, ServiceUnavailable
from pymk.online.base import GraphDelta, OnlineStore, PairFeatures, UserFeatures
from pymk.online.memory import MemoryOnlineStore

__all__ = ["GraphDelta", "MemoryOnlineStore", "OnlineStore", "PairFeatures", "UserFeatures", "open_online"]


def open_online(url: str) -> OnlineStore:
    """The online store ``url`` names: ``memory://`` or ``redis://host:port/db?prefix=pymk:online:``.

    Raises :class:`ConfigError` for an unsupported URL, :class:`ServiceUnavailable` when Redis cannot be
    reached.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "memory":
        return MemoryOnlineStore()
    if scheme in {"redis", "rediss"}:
        try:
            import redis

            from pymk.online.redis_store import RedisOnlineStore
        except ImportError as exc:
            raise ConfigError("redis URLs need redis-py: pip install 'pymk[services]'") from exc
        query = parse_qs(parts.query)
        prefix = query.pop("prefix", ["pymk:online:"])[-1]
        client = redis.Redis.from_url(urlunsplit(parts._replace(query=urlencode(query, doseq=True))))
        try:
            client.ping()
        except redis.RedisError as exc:
            raise ServiceUnavailable(f"cannot reach Redis at {parts.hostname}:{parts.port}: {exc}") from exc
        return RedisOnlineStore(client, prefix=prefix)
    raise ConfigError(f"unsupported online_url {url!r}: use memory:// or redis://...")
