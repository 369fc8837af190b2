"""Rebuilding a Redis online store beside the live one, then switching readers to it in one step.

The rebuild writes under a **staging prefix** (``<prefix>rebuild:``; the live keys are
``<prefix>{...}:...``, so the two never overlap), which readers do not see. The graph-delta sequence of
the staging store starts where the live one ends, so servers following the delta log
(:mod:`pymk.serving.follow`) read the rebuilt log as new entries and need no restart.

:meth:`RedisRebuild.switch` then, in **one MULTI/EXEC transaction**, deletes (``UNLINK``) every live key
and renames every staging key to its live name: a reader sees the old store or the new one, never a mix.
The transaction is guarded by ``WATCH`` on the live delta sequence: a worker that applied a graph event
meanwhile makes the switch fail (:class:`SwitchAborted`) instead of losing that event. Redis runs the
transaction without serving other clients: measured ~4 µs per key renamed or removed (355,649 renamed
and 177,824 removed blocked another client's PING for 1.9-2.2 s on 2 busy cores,
``benchmarks/online_switch.py``), so a store of 10 M keys pauses Redis for about a minute: size it with
``--dry-run``'s key count, or use ``--no-switch``. Redis Cluster refuses a transaction over keys of
several slots: there, rebuild with ``--no-switch`` and point ``PYMK_ONLINE_URL`` at the printed prefix.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import redis

from pymk.errors import ConfigError, PymkError, ServiceUnavailable
from pymk.online.plan import DELTAS
from pymk.online.redis_store import RedisOnlineStore

_GLOB_SPECIAL = "\\*?[]"
_SCAN_COUNT = 5_000


class SwitchAborted(PymkError):
    """The live store changed during the rebuild (a worker applied events): nothing was switched."""

    exit_code = 3


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in _GLOB_SPECIAL else c for c in text)


def staging_prefix(prefix: str) -> str:
    """The key prefix a rebuild of the store under ``prefix`` writes to."""
    return f"{prefix}rebuild:"


def unswitched_prefix(prefix: str, at: float) -> str:
    """A staging prefix of its own for a rebuild left unswitched at ``at`` (UNIX seconds)."""
    return f"{prefix}rebuilt-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(at))}:"


def parse_redis_url(url: str) -> tuple[redis.Redis, str, str]:
    """Client (pinged), key prefix (default ``pymk:online:``, as :func:`pymk.online.open_online`) and
    connection URL (without ``prefix``) of a ``redis://...?prefix=P`` online-store URL. Raises
    :class:`ConfigError` for another scheme, :class:`ServiceUnavailable` when Redis cannot be reached."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in {"redis", "rediss"}:
        raise ConfigError(f"not a redis URL: {url!r}")
    query = parse_qs(parts.query)
    prefix = query.pop("prefix", ["pymk:online:"])[-1]
    connection = urlunsplit(parts._replace(query=urlencode(query, doseq=True)))
    client = redis.Redis.from_url(connection)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise ServiceUnavailable(f"cannot reach Redis at {parts.hostname}:{parts.port}: {exc}") from exc
    return client, prefix, connection


def with_prefix(url: str, prefix: str) -> str:
    """``url`` with its ``prefix`` query parameter set to ``prefix``."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    query["prefix"] = [prefix]
    return urlunsplit(parts._replace(query=urlencode(query, doseq=True)))


@dataclass(frozen=True, slots=True)
class SwitchReport:
    """What :meth:`RedisRebuild.switch` did: staging keys renamed, live keys removed, seconds to send and
    execute the transaction (Redis serves nobody else only while it executes it, a part of that)."""

    renamed: int
    removed: int
    seconds: float


class RedisRebuild:
    """Staging store, start sequence and switch for rebuilding the store under ``prefix``.

    ``staging`` defaults to :func:`staging_prefix`, cleared by every rebuild; a rebuild that will not be
    switched (readers are pointed at it instead) should name a prefix of its own, which no later rebuild
    of ``prefix`` clears (:func:`unswitched_prefix`).
    """

    def __init__(self, client: redis.Redis, prefix: str, staging: str | None = None) -> None:
        self.client, self.prefix = client, prefix
        self.staging = staging_prefix(prefix) if staging is None else staging
        self._live = RedisOnlineStore(client, prefix=prefix)
        self.live_seq = 0

    def keys(self, prefix: str) -> Iterator[bytes]:
        """Every key of the store under ``prefix`` (not the staging store's when ``prefix`` is live)."""
        yield from self.client.scan_iter(match=_glob_escape(prefix) + "{*", count=_SCAN_COUNT)

    def count(self, prefix: str) -> int:
        return sum(1 for _ in self.keys(prefix))

    def prepare(self) -> RedisOnlineStore:
        """An empty staging store whose delta sequence continues the live one's; returns it, and
        remembers the live sequence :meth:`switch` watches."""
        self.clear_staging()
        self.live_seq = self._live.last_seq()
        staging = RedisOnlineStore(self.client, prefix=self.staging)
        if self.live_seq:
            self.client.set(staging.key(DELTAS, "seq"), self.live_seq)
        return staging

    def clear_staging(self) -> int:
        """Delete what a previous (failed or unswitched) rebuild left under the staging prefix."""
        removed = 0
        batch: list[bytes] = []
        for key in self.keys(self.staging):
            batch.append(key)
            if len(batch) >= _SCAN_COUNT:
                removed += int(self.client.unlink(*batch))
                batch = []
        if batch:
            removed += int(self.client.unlink(*batch))
        return removed

    def switch(self) -> SwitchReport:
        """Replace the live store by the staging one atomically (see the module doc); call after
        :meth:`prepare` and the rebuild. Raises :class:`SwitchAborted`, ``ServiceUnavailable``."""
        seq_key = self._live.key(DELTAS, "seq")
        cut = len(self.staging)
        with self.client.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(seq_key)  # type: ignore[no-untyped-call]
                current = pipe.get(seq_key)
                if int(current or 0) != self.live_seq:
                    raise SwitchAborted(
                        f"the live store's delta log moved from {self.live_seq} to {int(current or 0)} "
                        "during the rebuild (is a worker running?): stop the worker and rebuild again"
                    )
                old = list(self.keys(self.prefix))
                new = list(self.keys(self.staging))
                pipe.multi()
                for start in range(0, len(old), _SCAN_COUNT):
                    pipe.unlink(*old[start : start + _SCAN_COUNT])
                for key in new:
                    pipe.rename(key, self.prefix.encode() + key[cut:])
                started = time.perf_counter()
                pipe.execute()
                seconds = time.perf_counter() - started
            except redis.WatchError:
                raise SwitchAborted(
                    "the live store's delta log moved during the switch (is a worker running?): "
                    "stop the worker and rebuild again"
                ) from None
            except redis.ConnectionError as exc:
                raise ServiceUnavailable(f"cannot reach Redis: {exc}") from exc
        return SwitchReport(len(new), len(old), seconds)
