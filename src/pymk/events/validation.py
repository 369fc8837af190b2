"""Parsing and validation of raw events, with a stable reason code for every rejection.

``parse_event`` either returns an :class:`~pymk.events.schema.Event` or raises
:class:`~pymk.errors.InvalidRecord` whose ``reason`` is one of :class:`Reason`. Nothing is coerced
silently except what the contract allows: integer user ids become their decimal strings, and ``ts`` may be
UNIX seconds or an RFC 3339 string with a time zone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson

from pymk.errors import InvalidRecord
from pymk.events.schema import (
    ATTRIBUTION_PROPS,
    ATTRIBUTION_REQUIRED,
    FEEDBACK_TYPES,
    UNARY_TYPES,
    Event,
    EventType,
)

#: Accepted time range: 1970-01-01 (inclusive) to 2100-01-01 (exclusive), UTC.
MIN_TS = 0.0
MAX_TS = 4_102_444_800.0

_FIELDS = ("event_id", "ts", "type", "actor", "target", "props")
_REQUIRED = ("event_id", "ts", "type", "actor")


class Reason(StrEnum):
    """Why a record was rejected. Stable codes: they are counted, stored and alerted on."""

    BAD_JSON = "bad_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    UNKNOWN_FIELD = "unknown_field"
    WRONG_TYPE = "wrong_type"
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    EMPTY_ID = "empty_id"
    ID_TOO_LONG = "id_too_long"
    BAD_TIMESTAMP = "bad_timestamp"
    TIMESTAMP_OUT_OF_RANGE = "timestamp_out_of_range"
    MISSING_TARGET = "missing_target"
    UNEXPECTED_TARGET = "unexpected_target"
    SELF_EDGE = "self_edge"
    PROPS_TOO_LARGE = "props_too_large"
    BAD_ATTRIBUTION = "bad_attribution"
    INCOMPLETE_ATTRIBUTION = "incomplete_attribution"
    BAD_LINE = "bad_line"


@dataclass(frozen=True, slots=True)
class Limits:
    """Size limits applied during validation."""

    max_id_length: int = 128
    max_props_bytes: int = 4096
    #: Largest ``position`` prop of a feedback event (0-based; lists hold at most 200 items).
    max_position: int = 199


DEFAULT_LIMITS = Limits()


def _fail(reason: Reason, detail: str) -> InvalidRecord:
    return InvalidRecord(reason.value, detail)


def _user_id(obj: dict[str, Any], name: str, limits: Limits) -> str:
    value = obj[name]
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _fail(Reason.WRONG_TYPE, f"{name} must be a string user id, got {type(value).__name__}")
    text = str(value)
    if not text.strip():
        raise _fail(Reason.EMPTY_ID, f"{name} is empty")
    if len(text) > limits.max_id_length:
        raise _fail(
            Reason.ID_TOO_LONG, f"{name} has {len(text)} characters, more than {limits.max_id_length}"
        )
    return text


def parse_ts(value: Any) -> float:
    """UNIX seconds from a number or an RFC 3339 string with a time zone; raises ``InvalidRecord``."""
    if isinstance(value, bool):
        raise _fail(Reason.WRONG_TYPE, "ts must be UNIX seconds or an RFC 3339 string, got bool")
    if isinstance(value, int | float):
        ts = float(value)
        if not math.isfinite(ts):
            raise _fail(Reason.BAD_TIMESTAMP, f"ts is not a finite number: {value!r}")
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise _fail(Reason.BAD_TIMESTAMP, f"ts is not RFC 3339: {value[:40]!r}") from None
        if moment.tzinfo is None:
            raise _fail(Reason.BAD_TIMESTAMP, f"ts has no time zone offset: {value[:40]!r}")
        ts = moment.timestamp()
    else:
        raise _fail(
            Reason.WRONG_TYPE, f"ts must be UNIX seconds or an RFC 3339 string, got {type(value).__name__}"
        )
    if not MIN_TS <= ts < MAX_TS:
        raise _fail(Reason.TIMESTAMP_OUT_OF_RANGE, f"ts {ts:.0f} is outside 1970-01-01 .. 2100-01-01")
    return ts


def validate_event(obj: Any, limits: Limits = DEFAULT_LIMITS) -> Event:
    """Validate a decoded JSON value as one event (DESIGN §2). Raises ``InvalidRecord`` with a reason."""
    if not isinstance(obj, dict):
        raise _fail(Reason.NOT_AN_OBJECT, f"an event must be a JSON object, got {type(obj).__name__}")
    for name in _REQUIRED:
        if obj.get(name) is None:
            raise _fail(Reason.MISSING_FIELD, f"missing field {name!r}")
    unknown = sorted(set(obj) - set(_FIELDS))
    if unknown:
        raise _fail(Reason.UNKNOWN_FIELD, f"unknown field(s): {', '.join(map(repr, unknown[:5]))}")
    event_id = obj["event_id"]
    if not isinstance(event_id, str):
        raise _fail(Reason.WRONG_TYPE, f"event_id must be a string, got {type(event_id).__name__}")
    if not event_id.strip():
        raise _fail(Reason.EMPTY_ID, "event_id is empty")
    if len(event_id) > limits.max_id_length:
        raise _fail(
            Reason.ID_TOO_LONG, f"event_id has {len(event_id)} characters, more than {limits.max_id_length}"
        )
    raw_type = obj["type"]
    try:
        etype = EventType(raw_type)
    except ValueError:
        raise _fail(Reason.UNKNOWN_EVENT_TYPE, f"unknown event type {str(raw_type)[:40]!r}") from None
    ts = parse_ts(obj["ts"])
    actor = _user_id(obj, "actor", limits)
    target: str | None = None
    if etype in UNARY_TYPES:
        if obj.get("target") is not None:
            raise _fail(Reason.UNEXPECTED_TARGET, f"a {etype.value} event must have target null")
    else:
        if obj.get("target") is None:
            raise _fail(Reason.MISSING_TARGET, f"a {etype.value} event needs a target user")
        target = _user_id(obj, "target", limits)
        if target == actor:
            raise _fail(Reason.SELF_EDGE, f"actor and target are the same user {actor!r}")
    props = obj.get("props")
    if props is None:
        props = {}
    if not isinstance(props, dict):
        raise _fail(Reason.WRONG_TYPE, f"props must be a JSON object, got {type(props).__name__}")
    if props:
        size = len(orjson.dumps(props))
        if size > limits.max_props_bytes:
            raise _fail(
                Reason.PROPS_TOO_LARGE, f"props take {size} bytes, more than {limits.max_props_bytes}"
            )
    if etype in FEEDBACK_TYPES:
        _check_attribution(props, limits)
    return Event(event_id=event_id, ts=ts, type=etype, actor=actor, target=target, props=props)


def _check_attribution(props: dict[str, Any], limits: Limits) -> None:
    """The attribution props of an impression/click (:data:`~pymk.events.schema.ATTRIBUTION_PROPS`):
    none (unattributed), or ``request_id``, ``model_version`` and ``source`` as non-empty strings of at
    most ``max_id_length`` characters and an optional integer ``position`` in 0..``max_position``."""
    present = [name for name in ATTRIBUTION_PROPS if name in props]
    if not present:
        return
    missing = [name for name in ATTRIBUTION_REQUIRED if name not in props]
    if missing:
        raise _fail(
            Reason.INCOMPLETE_ATTRIBUTION,
            f"props has {', '.join(present)} but not {', '.join(missing)}: "
            f"an attributed event needs {', '.join(ATTRIBUTION_REQUIRED)}",
        )
    for name in present:
        value = props[name]
        if name == "position":
            if isinstance(value, bool) or not isinstance(value, int):
                raise _fail(
                    Reason.BAD_ATTRIBUTION, f"props.position must be an integer, got {type(value).__name__}"
                )
            if not 0 <= value <= limits.max_position:
                raise _fail(
                    Reason.BAD_ATTRIBUTION, f"props.position {value} is outside 0..{limits.max_position}"
                )
        elif not isinstance(value, str):
            raise _fail(Reason.BAD_ATTRIBUTION, f"props.{name} must be a string, got {type(value).__name__}")
        elif not value.strip():
            raise _fail(Reason.BAD_ATTRIBUTION, f"props.{name} is empty")
        elif len(value) > limits.max_id_length:
            raise _fail(
                Reason.BAD_ATTRIBUTION,
                f"props.{name} has {len(value)} characters, more than {limits.max_id_length}",
            )


def parse_event(raw: str | bytes, limits: Limits = DEFAULT_LIMITS) -> Event:
    """Decode one JSON text and validate it as an event. Raises ``InvalidRecord`` with a reason."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _fail(Reason.BAD_JSON, f"not valid JSON: {exc}") from None
    return validate_event(obj, limits)
