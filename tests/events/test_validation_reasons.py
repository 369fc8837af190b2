"""Every rejection reason of ``parse_event``/``validate_event``, one test each, and the accepted forms."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest

from pymk.errors import InvalidRecord
from pymk.events.schema import EventType
from pymk.events.validation import Limits, Reason, parse_event, parse_ts, validate_event

pytestmark = pytest.mark.unit

GOOD: dict[str, Any] = {
    "event_id": "e1",
    "ts": 1_700_000_000,
    "type": "message",
    "actor": "u1",
    "target": "u2",
    "props": {},
}


def event(**changes: Any) -> dict[str, Any]:
    """GOOD with ``changes`` applied; a value of ``...`` removes the field."""
    out = {**GOOD, **changes}
    return {k: v for k, v in out.items() if v is not ...}


def reason_of(obj: Any, limits: Limits | None = None) -> str:
    with pytest.raises(InvalidRecord) as info:
        validate_event(obj, limits or Limits())
    return info.value.reason


def test_bad_json() -> None:
    with pytest.raises(InvalidRecord) as info:
        parse_event('{"event_id": "e1", ')
    assert info.value.reason == Reason.BAD_JSON
    assert "not valid JSON" in info.value.detail


def test_not_an_object() -> None:
    assert reason_of([GOOD]) == Reason.NOT_AN_OBJECT


@pytest.mark.parametrize("name", ["event_id", "ts", "type", "actor"])
def test_missing_field(name: str) -> None:
    assert reason_of(event(**{name: ...})) == Reason.MISSING_FIELD
    assert reason_of(event(**{name: None})) == Reason.MISSING_FIELD


def test_unknown_field() -> None:
    assert reason_of(event(extra=1)) == Reason.UNKNOWN_FIELD


@pytest.mark.parametrize(
    "changes",
    [
        {"event_id": 7},
        {"actor": 1.5},
        {"actor": True},
        {"target": ["u2"]},
        {"ts": True},
        {"ts": [1]},
        {"props": "x"},
    ],
    ids=["event_id-int", "actor-float", "actor-bool", "target-list", "ts-bool", "ts-list", "props-str"],
)
def test_wrong_type(changes: dict[str, Any]) -> None:
    assert reason_of(event(**changes)) == Reason.WRONG_TYPE


def test_unknown_event_type() -> None:
    assert reason_of(event(type="poke")) == Reason.UNKNOWN_EVENT_TYPE


@pytest.mark.parametrize("changes", [{"event_id": "  "}, {"actor": ""}, {"target": " "}])
def test_empty_id(changes: dict[str, Any]) -> None:
    assert reason_of(event(**changes)) == Reason.EMPTY_ID


@pytest.mark.parametrize("name", ["event_id", "actor", "target"])
def test_id_too_long(name: str) -> None:
    assert reason_of(event(**{name: "x" * 9}), Limits(max_id_length=8)) == Reason.ID_TOO_LONG
    validate_event(event(**{name: "x" * 8}), Limits(max_id_length=8))  # the limit itself is fine


@pytest.mark.parametrize(
    "ts", ["yesterday", "2024-01-01T00:00:00", "2024-13-01T00:00:00Z", math.nan, math.inf]
)
def test_bad_timestamp(ts: Any) -> None:
    assert reason_of(event(ts=ts)) == Reason.BAD_TIMESTAMP


@pytest.mark.parametrize("ts", [-1, 4_102_444_800, "1969-12-31T23:59:59Z", "2100-01-01T00:00:00Z"])
def test_timestamp_out_of_range(ts: Any) -> None:
    assert reason_of(event(ts=ts)) == Reason.TIMESTAMP_OUT_OF_RANGE


@pytest.mark.parametrize("etype", ["connect", "message", "block", "profile_view"])
def test_missing_target(etype: str) -> None:
    assert reason_of(event(type=etype, target=None)) == Reason.MISSING_TARGET


@pytest.mark.parametrize("etype", ["signup", "delete_user"])
def test_unexpected_target(etype: str) -> None:
    assert reason_of(event(type=etype)) == Reason.UNEXPECTED_TARGET


def test_self_edge() -> None:
    assert reason_of(event(actor="u1", target="u1")) == Reason.SELF_EDGE


def test_props_too_large() -> None:
    assert reason_of(event(props={"k": "x" * 100}), Limits(max_props_bytes=50)) == Reason.PROPS_TOO_LARGE


ATTRIBUTED = {"request_id": "r-1", "model_version": "v0001", "source": "precomputed", "position": 3}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("request_id", 7),
        ("request_id", " "),
        ("model_version", ""),
        ("model_version", "v" * 129),
        ("source", None),
        ("position", -1),
        ("position", 200),
        ("position", 1.0),
        ("position", True),
        ("position", "3"),
    ],
)
@pytest.mark.parametrize("etype", ["impression", "click"])
def test_bad_attribution(etype: str, name: str, value: Any) -> None:
    with pytest.raises(InvalidRecord) as info:
        validate_event(event(type=etype, props={**ATTRIBUTED, name: value}))
    assert info.value.reason == Reason.BAD_ATTRIBUTION
    assert f"props.{name}" in info.value.detail


@pytest.mark.parametrize("drop", ["request_id", "model_version", "source"])
def test_incomplete_attribution(drop: str) -> None:
    props = {k: v for k, v in ATTRIBUTED.items() if k != drop}
    with pytest.raises(InvalidRecord) as info:
        validate_event(event(type="click", props=props))
    assert info.value.reason == Reason.INCOMPLETE_ATTRIBUTION and drop in info.value.detail


def test_attribution_is_optional_and_only_checked_on_feedback() -> None:
    from pymk.events.schema import Attribution

    unattributed = validate_event(event(type="impression", props={"page": "home"}))
    assert Attribution.of(unattributed) is None
    full = validate_event(event(type="impression", props=ATTRIBUTED))
    assert Attribution.of(full) == Attribution("r-1", "v0001", "precomputed", 3)
    no_position = {k: v for k, v in ATTRIBUTED.items() if k != "position"}
    assert Attribution.of(validate_event(event(type="click", props=no_position))) == Attribution(
        "r-1", "v0001", "precomputed", None
    )
    # Other types keep free-form props: the same keys with other meanings are not checked.
    assert validate_event(event(type="message", props={"position": "top"})).props == {"position": "top"}


def test_every_reason_is_tested() -> None:
    tested = {n.removeprefix("test_") for n in globals() if n.startswith("test_")}
    # BAD_LINE belongs to the file readers (tests/io/test_readers_errors.py).
    assert {r.value for r in Reason} - {"bad_line"} <= tested


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (1_700_000_000, 1_700_000_000.0),
        (1_700_000_000.25, 1_700_000_000.25),
        (0, 0.0),
        ("2023-11-14T22:13:20Z", 1_700_000_000.0),
        ("2023-11-14T22:13:20+00:00", 1_700_000_000.0),
        ("2023-11-15T00:13:20+02:00", 1_700_000_000.0),
        ("2023-11-14T22:13:20.5Z", 1_700_000_000.5),
        ("2023-11-14 22:13:20Z", 1_700_000_000.0),
    ],
)
def test_accepted_timestamps(ts: Any, expected: float) -> None:
    assert parse_ts(ts) == expected
    assert validate_event(event(ts=ts)).ts == expected


def test_accepted_event_round_trip() -> None:
    raw = orjson.dumps(event(actor=42, props={"text": "hi"}))
    parsed = parse_event(raw)
    assert parsed.actor == "42"  # integer ids become their decimal strings
    assert parsed.type is EventType.MESSAGE
    assert parsed.to_dict() == {**GOOD, "actor": "42", "ts": 1_700_000_000.0, "props": {"text": "hi"}}
    signup = validate_event(event(type="signup", target=None, props=...))
    assert signup.target is None and signup.props == {}
