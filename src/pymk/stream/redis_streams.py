"""Redis Streams with consumer groups: ``redis://host:port/db?stream=pymk:events&group=pymk``.

Each record is one stream entry whose field ``event`` holds the payload (``XADD pymk:events * event
<json>``); an entry without that field is delivered as the JSON object of all its fields, so the worker's
validation rejects it with a reason rather than it vanishing. The group is created at the start of the
stream (``0``) when missing, so records published before the first consumer are consumed too.

Delivery: ``XREADGROUP ... >`` for new entries; ``ack`` is ``XACK`` (the entry leaves the group's
pending-entries list, PEL). Recovery of entries delivered but never acked:

- a consumer that restarts **with the same name** first re-reads its own PEL (``XREADGROUP ... 0``);
- entries of a consumer that died for good (another name) are taken over by ``XAUTOCLAIM`` once they
  have been idle ``claim_idle`` seconds, checked at start and then every ``claim_every`` seconds.

So a record is redelivered at the earliest on restart, and at the latest ``claim_idle`` +
``claim_every`` seconds after its consumer died. A live consumer that holds a record unacked for longer
than ``claim_idle`` may see it claimed (by itself or another): keep ``claim_idle`` above the slowest
batch. Entries are never trimmed here (nothing is lost); cap the stream with ``XTRIM`` against the
group's acked position in operations.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Sequence
from typing import Any

import redis

from pymk.errors import ConfigError, ServiceUnavailable
from pymk.stream.base import Record, check_keys

FIELD = b"event"


def default_consumer_name() -> str:
    """``<host>-<pid>``: unique per live process, so two workers never share a PEL."""
    return f"{socket.gethostname()}-{os.getpid()}"


def _payload(fields: dict[bytes, bytes]) -> bytes:
    if FIELD in fields:
        return fields[FIELD]
    text = {k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, v in fields.items()}
    return json.dumps(text, ensure_ascii=False).encode()


class RedisStreamSource:
    """One consumer of ``stream`` in consumer group ``group`` (see the module docstring)."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        stream: str = "pymk:events",
        group: str = "pymk",
        consumer: str | None = None,
        claim_idle: float = 30.0,
        claim_every: float = 5.0,
    ) -> None:
        self._client = client
        self.stream, self.group = stream, group
        self.consumer = consumer or default_consumer_name()
        self._claim_idle_ms = int(claim_idle * 1000)
        self._claim_every = claim_every
        self._next_claim = 0.0  # claim at the first poll
        self._claim_cursor = "0-0"
        self._pending_from: str | None = "0"  # re-read our own PEL (from here) before anything new
        self._create_group()

    def _create_group(self) -> None:
        try:
            self._client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise ConfigError(f"cannot use Redis key {self.stream!r} as an event stream: {exc}") from exc
        except redis.ConnectionError as exc:
            raise ServiceUnavailable(f"cannot reach Redis: {exc}") from exc

    def poll(self, max_records: int = 1000, timeout: float = 1.0) -> list[Record]:
        try:
            try:
                return self._poll(max_records, timeout)
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                # The stream (or the group) was deleted under us: start again at its beginning.
                self._create_group()
                self._pending_from = None
                return self._poll(max_records, timeout)
        except redis.ConnectionError as exc:
            raise ServiceUnavailable(f"cannot reach Redis: {exc}") from exc

    def _poll(self, max_records: int, timeout: float) -> list[Record]:
        while self._pending_from is not None:
            records, last = self._read(self._pending_from, max_records, None)
            self._pending_from = last
            if records:
                return records
        if time.monotonic() >= self._next_claim:
            self._next_claim = time.monotonic() + self._claim_every
            records = self._claim(max_records)
            if records:
                return records
        return self._read(">", max_records, max(1, int(timeout * 1000)))[0]

    def _read(self, start: str, count: int, block_ms: int | None) -> tuple[list[Record], str | None]:
        """Records from ``start``, and the id of the last entry seen (``None`` when there was none)."""
        reply: Any = self._client.xreadgroup(
            self.group, self.consumer, {self.stream: start}, count=count, block=block_ms
        )
        if not reply or not reply[0][1]:
            return [], None
        # A deleted entry still pending comes back with fields None: nothing to deliver, ack it away.
        entries = reply[0][1]
        gone = [entry_id for entry_id, fields in entries if fields is None]
        if gone:
            self._client.xack(self.stream, self.group, *gone)
        records = [Record(_text(i), _payload(fields)) for i, fields in entries if fields is not None]
        return records, _text(entries[-1][0])

    def _claim(self, count: int) -> list[Record]:
        idle, cursor = self._claim_idle_ms, self._claim_cursor
        reply: Any = self._client.xautoclaim(
            self.stream, self.group, self.consumer, idle, start_id=cursor, count=count
        )
        self._claim_cursor = _text(reply[0])
        if self._claim_cursor != "0-0":
            self._next_claim = 0.0  # more of the PEL left to scan: go on at the next poll
        return [Record(_text(i), _payload(fields)) for i, fields in reply[1] if fields is not None]

    def ack(self, records: Sequence[Record]) -> None:
        if not records:
            return
        try:
            self._client.xack(self.stream, self.group, *[r.id for r in records])
        except redis.ConnectionError as exc:
            raise ServiceUnavailable(f"cannot reach Redis: {exc}") from exc

    def lag(self) -> int | None:
        """``lag`` + ``pending`` of the group (``XINFO GROUPS``); ``None`` when Redis cannot count the
        lag (entries deleted or trimmed inside the range)."""
        try:
            groups: Any = self._client.xinfo_groups(self.stream)
        except redis.ResponseError:
            return None  # the stream is gone
        except redis.ConnectionError as exc:
            raise ServiceUnavailable(f"cannot reach Redis: {exc}") from exc
        for info in groups:
            if _text(info["name"]) == self.group:
                lag = info.get("lag")
                return None if lag is None else int(lag) + int(info["pending"])
        return None

    def close(self) -> None:
        self._client.close()


class RedisStreamSink:
    """``XADD``s payloads to ``stream`` in one pipeline per call; keys are not kept (one stream, one
    order)."""

    def __init__(self, client: redis.Redis, *, stream: str = "pymk:events") -> None:
        self._client = client
        self.stream = stream

    def publish(self, payloads: Sequence[bytes], keys: Sequence[bytes | None] | None = None) -> None:
        check_keys(payloads, keys)
        pipe = self._client.pipeline(transaction=False)
        for payload in payloads:
            pipe.xadd(self.stream, {FIELD: payload})
        try:
            pipe.execute()
        except redis.ConnectionError as exc:
            raise ServiceUnavailable(f"cannot reach Redis: {exc}") from exc

    def close(self) -> None:
        self._client.close()


def _text(entry_id: bytes | str) -> str:
    return entry_id.decode() if isinstance(entry_id, bytes) else entry_id
