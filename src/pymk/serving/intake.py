"""``POST /v1/events`` (DESIGN §5): validate a body of events, publish the valid ones to the event stream.

The server does not apply events itself: it validates them (the same
:func:`~pymk.events.validation.validate_event` and limits the worker uses), stores each invalid one in
the dead-letter store with its reason, and publishes the valid ones, unchanged, to the configured event
stream (``PYMK_EVENTS_URL``, keyed by actor). ``pymk worker`` applies them from there, de-duplicated by
``event_id``, and the server sees the graph changes through the online store's delta log
(:mod:`pymk.serving.follow`) — one path for every producer, so HTTP-posted and streamed events are
applied, counted and de-duplicated identically.

Body: a JSON array of event objects, or NDJSON (one JSON object per line; blank lines skipped). A body
that starts with ``[`` but is not a JSON array, an empty body or one that is not UTF-8 is malformed
(400, nothing stored); an item that is not a valid event (including an NDJSON line that is not JSON) is
*rejected*: dead-lettered with source ``POST /v1/events`` and ``line`` = its 1-based position, and
reported as ``{"index": <0-based>, "reason": <code>, "detail": <text>}``. Nothing is lost: on return
every item is either durably in the stream or in the dead-letter store.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from pymk.errors import InvalidInput, InvalidRecord
from pymk.events.deadletter import DeadLetter, DeadLetterStore
from pymk.events.schema import Event
from pymk.events.validation import DEFAULT_LIMITS, Limits, Reason, validate_event
from pymk.stream.base import EventSink

SOURCE = "POST /v1/events"


@dataclass(frozen=True, slots=True)
class Submission:
    """What :meth:`EventIntake.accept` did with one body: ``reply`` is the 202 JSON
    (``{"accepted", "rejected", "errors"}``), ``events`` the accepted events in body order (for
    counting feedback by type and model version; see :class:`~pymk.monitoring.metrics.ServeMetrics`)."""

    reply: dict[str, Any]
    events: list[Event]


class MalformedBody(InvalidInput):
    """The body is neither a JSON array nor NDJSON."""

    http_status = 400


class EventIntake:
    """Validates and publishes posted events; thread-safe. ``sink`` and ``deadletters`` are opened on
    first use by the factories (a server nobody posts to opens neither)."""

    def __init__(
        self,
        sink: Callable[[], EventSink],
        deadletters: Callable[[], DeadLetterStore],
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self._open_sink, self._open_letters, self.limits = sink, deadletters, limits
        self._sink: EventSink | None = None
        self._letters: DeadLetterStore | None = None
        self._lock = threading.Lock()

    def submit(self, body: bytes) -> dict[str, Any]:
        """Handle one body: ``{"accepted": n, "rejected": m, "errors": [...]}`` (see the module doc).

        Raises :class:`MalformedBody` (400), ``ServiceUnavailable`` (503) when the stream or the
        dead-letter store cannot be written.
        """
        return self.accept(body).reply

    def accept(self, body: bytes) -> Submission:
        """:meth:`submit`, also returning the accepted events (same errors)."""
        items = split_body(body)
        events: list[Event] = []
        accepted: list[bytes] = []
        keys: list[bytes | None] = []
        letters: list[DeadLetter] = []
        errors: list[dict[str, Any]] = []
        now = time.time()
        for index, (raw, decoded) in enumerate(items):
            try:
                if isinstance(decoded, InvalidRecord):
                    raise decoded
                event = validate_event(decoded, self.limits)
            except InvalidRecord as exc:
                text = raw.decode("utf-8", "replace")
                letters.append(DeadLetter(text, exc.reason, exc.detail, SOURCE, index + 1, now))
                errors.append({"index": index, "reason": exc.reason, "detail": exc.detail})
                continue
            accepted.append(raw)
            events.append(event)
            keys.append(event.actor.encode())
        with self._lock:
            if letters:
                self._deadletters().put(letters)
            if accepted:
                self._stream().publish(accepted, keys)
        return Submission({"accepted": len(accepted), "rejected": len(letters), "errors": errors}, events)

    def _stream(self) -> EventSink:
        if self._sink is None:
            self._sink = self._open_sink()
        return self._sink

    def _deadletters(self) -> DeadLetterStore:
        if self._letters is None:
            self._letters = self._open_letters()
        return self._letters

    def close(self) -> None:
        with self._lock:
            if self._sink is not None:
                self._sink.close()
            if self._letters is not None:
                self._letters.close()
            self._sink = self._letters = None


Item = tuple[bytes, "Any | InvalidRecord"]
"""One item of a body: its raw bytes (as published: compact JSON) and its decoded value, or the
:class:`InvalidRecord` its NDJSON line raised."""


def split_body(body: bytes) -> list[Item]:
    """The items of a ``POST /v1/events`` body, in order; raises :class:`MalformedBody`."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedBody("body is not UTF-8") from None
    stripped = text.strip()
    if not stripped:
        raise MalformedBody("body is empty: send a JSON array of events or NDJSON")
    if stripped.startswith("["):
        try:
            values = orjson.loads(stripped)
        except orjson.JSONDecodeError as exc:
            raise MalformedBody(f"body starts like a JSON array but is not JSON: {exc}") from None
        if not isinstance(values, list):
            raise MalformedBody("body must be a JSON array of events or NDJSON")
        return [(orjson.dumps(v), v) for v in values]
    items: list[Item] = []
    for line in stripped.splitlines():
        line = line.strip()
        if not line:
            continue
        raw = line.encode()
        try:
            value: Any = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            items.append((raw, InvalidRecord(Reason.BAD_JSON.value, f"not valid JSON: {exc}")))
            continue
        items.append((orjson.dumps(value), value))
    return items
