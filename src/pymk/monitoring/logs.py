"""JSON-lines logs of ``pymk serve`` and ``pymk worker``, and the sampled per-request log line.

One line per record: ``{"ts": "2026-11-27T14:05:00.123Z", "level": "INFO", "logger": ..., "msg": ...}``
plus the fields a call passes in ``extra`` (only those of :data:`FIELDS`: ids, never user data beyond
them). A request line carries ``request_id``, ``endpoint``, ``status``, ``outcome`` (ok, client_error,
server_error), ``latency_ms``, ``model_version`` and ``source``; successful requests are logged with
probability ``sample_rate`` (the hot path), every error always.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime
from itertools import count

import orjson

FIELDS = (
    "request_id",
    "endpoint",
    "method",
    "status",
    "outcome",
    "latency_ms",
    "model_version",
    "source",
    "user_id",
    "users",
    "batch",
    "records",
    "applied",
    "rejected",
    "lag",
    "freshness_s",
)
ACCESS_LOGGER = "pymk.access"
MAX_REQUEST_ID = 128


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object on one line (UTC timestamps, milliseconds)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def configure_logging(level: str) -> None:
    """Send every ``pymk`` logger's records at ``level`` and above to stderr as JSON lines (replacing the
    handlers an earlier call installed; other libraries' loggers are left alone)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("pymk")
    for old in list(root.handlers):
        if isinstance(old.formatter, JsonFormatter):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False


class RequestIds:
    """Request ids, as the bytes of the ``X-Request-Id`` header: the incoming one when it is printable
    ASCII of at most 128 characters, else ``<12 hex of this process>-<counter in hex>`` (unique without a
    random draw per request)."""

    def __init__(self) -> None:
        self._prefix = os.urandom(6).hex().encode()
        self._next = count(1)

    def __call__(self, incoming: bytes | None) -> bytes:
        if (
            incoming
            and len(incoming) <= MAX_REQUEST_ID
            and incoming.isascii()
            and incoming.decode().isprintable()
        ):
            return incoming
        return b"%s-%x" % (self._prefix, next(self._next))


class AccessLog:
    """Writes request lines to :data:`ACCESS_LOGGER`; the caller logs every error and successes with
    probability ``sample_rate`` (``status >= 400 or random() < sample_rate``, inlined on the hot path)."""

    def __init__(self, sample_rate: float = 0.01) -> None:
        self.sample_rate = sample_rate
        self.log = logging.getLogger(ACCESS_LOGGER)

    def write(
        self, request_id: str, endpoint: str, method: str, status: int, seconds: float, **ids: object
    ) -> None:
        """One request line at INFO (WARNING for a 4xx, ERROR for a 5xx)."""
        outcome = "ok" if status < 400 else "client_error" if status < 500 else "server_error"
        level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
        self.log.log(
            level,
            "%s %s %d",
            method,
            endpoint,
            status,
            extra={
                "request_id": request_id,
                "endpoint": endpoint,
                "method": method,
                "status": status,
                "outcome": outcome,
                "latency_ms": round(seconds * 1000.0, 3),
                **ids,
            },
        )
