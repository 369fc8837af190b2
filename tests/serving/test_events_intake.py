"""``POST /v1/events`` in-process: valid events reach the stream unchanged, bad ones the dead-letter store."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest
from serving_helpers import AsgiClient, fill

from pymk.events.deadletter import MemoryDeadLetterStore
from pymk.events.validation import parse_event
from pymk.serving.http import MAX_BODY, create_app
from pymk.serving.intake import EventIntake
from pymk.serving.lists_mmap import MmapListStore
from pymk.serving.service import RecommendationService
from pymk.stream import open_sink, open_source

pytestmark = pytest.mark.unit


class ListSink:
    def __init__(self) -> None:
        self.payloads: list[bytes] = []
        self.keys: list[bytes | None] = []

    def publish(self, payloads: Sequence[bytes], keys: Sequence[bytes | None] | None = None) -> None:
        self.payloads += payloads
        self.keys += keys or [None] * len(payloads)

    def close(self) -> None:
        pass


def _event(i: int, **over: object) -> dict[str, object]:
    return {
        "event_id": f"e{i}",
        "ts": 1_790_000_000 + i,
        "type": "connect",
        "actor": "a",
        "target": f"b{i}",
    } | over


@pytest.fixture
def parts(tmp_path: Path) -> tuple[AsgiClient, ListSink, MemoryDeadLetterStore]:
    sink, letters = ListSink(), MemoryDeadLetterStore()
    intake = EventIntake(lambda: sink, lambda: letters)
    app = create_app(RecommendationService(MmapListStore(tmp_path / "lists")), intake)
    return AsgiClient(app), sink, letters


def test_array_body_accepts_valid_and_dead_letters_the_rest(
    parts: tuple[AsgiClient, ListSink, MemoryDeadLetterStore],
) -> None:
    client, sink, letters = parts
    body = [_event(0), _event(1, type="teleport"), _event(2, target="a"), 7, _event(4)]
    status, reply = client.request("POST", "/v1/events", orjson.dumps(body))
    assert status == 202 and (reply["accepted"], reply["rejected"]) == (2, 3)
    assert [(e["index"], e["reason"]) for e in reply["errors"]] == [
        (1, "unknown_event_type"),
        (2, "self_edge"),
        (3, "not_an_object"),
    ]
    assert [parse_event(p).event_id for p in sink.payloads] == ["e0", "e4"]
    assert sink.keys == [b"a", b"a"]
    stored = sorted(letters.list(), key=lambda d: d.line or 0)
    assert [(d.reason, d.source, d.line) for d in stored] == [
        ("unknown_event_type", "POST /v1/events", 2),
        ("self_edge", "POST /v1/events", 3),
        ("not_an_object", "POST /v1/events", 4),
    ]
    assert orjson.loads(stored[0].raw)["type"] == "teleport"


def test_ndjson_body_and_a_bad_line_is_one_rejected_item(
    parts: tuple[AsgiClient, ListSink, MemoryDeadLetterStore],
) -> None:
    client, sink, letters = parts
    body = orjson.dumps(_event(0)) + b"\n\n{oops\n" + orjson.dumps(_event(1)) + b"\n"
    status, reply = client.request("POST", "/v1/events", body)
    assert status == 202 and (reply["accepted"], reply["rejected"]) == (2, 1)
    assert reply["errors"][0]["index"] == 1 and reply["errors"][0]["reason"] == "bad_json"
    assert letters.list()[0].raw == "{oops" and len(sink.payloads) == 2


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b"", 400, "MalformedBody"),
        (b"  \n", 400, "MalformedBody"),
        (b"[{", 400, "MalformedBody"),
        (b"\xff\xfe", 400, "MalformedBody"),
        (b"[" + b" " * MAX_BODY + b"]", 413, "PayloadTooLarge"),
    ],
)
def test_malformed_and_oversized_bodies_store_nothing(
    parts: tuple[AsgiClient, ListSink, MemoryDeadLetterStore], body: bytes, status: int, error: str
) -> None:
    client, sink, letters = parts
    got, reply = client.request("POST", "/v1/events", body)
    assert (got, reply["error"]) == (status, error)
    assert sink.payloads == [] and letters.count() == 0


def test_only_post(parts: tuple[AsgiClient, ListSink, MemoryDeadLetterStore]) -> None:
    assert parts[0].request("GET", "/v1/events")[0] == 405


def test_posted_events_reach_the_file_stream_the_worker_reads(tmp_path: Path) -> None:
    url = f"file:{tmp_path}/events.jsonl"
    intake = EventIntake(lambda: open_sink(url), MemoryDeadLetterStore)
    try:
        assert intake.submit(orjson.dumps([_event(0), _event(1)]))["accepted"] == 2
    finally:
        intake.close()
    source = open_source(url + "?follow=0")
    try:
        records = source.poll(10, 0.5)
    finally:
        source.close()
    assert [parse_event(r.payload).event_id for r in records] == ["e0", "e1"]


def test_openapi_documents_the_response(parts: tuple[AsgiClient, ListSink, MemoryDeadLetterStore]) -> None:
    client = parts[0]
    schemas = client.request("GET", "/openapi.json")[1]["components"]["schemas"]
    _, reply = client.request("POST", "/v1/events", orjson.dumps([_event(0), 1]))
    assert set(reply) == set(schemas["EventsAccepted"]["required"])
    assert set(reply["errors"][0]) == set(
        schemas["EventsAccepted"]["properties"]["errors"]["items"]["required"]
    )


def _feedback(i: int, etype: str, **props: object) -> dict[str, object]:
    return _event(i, type=etype, actor="viewer", target=f"t{i}", props=props)


def test_feedback_events_are_counted_by_type_version_and_source(tmp_path: Path) -> None:
    from pymk.monitoring.metrics import ServeMetrics

    store = MmapListStore(tmp_path / "lists")
    fill(store)  # lists of model version v0001-test
    metrics, sink = ServeMetrics(), ListSink()
    app = create_app(
        RecommendationService(store), EventIntake(lambda: sink, MemoryDeadLetterStore), metrics=metrics
    )
    client = AsgiClient(app)
    served = {"request_id": "r1", "model_version": "v0001-test", "source": "precomputed", "position": 0}
    body = [
        _feedback(0, "impression", **served),
        _feedback(1, "impression", **served),
        _feedback(2, "click", **served),
        _feedback(3, "impression", **{**served, "model_version": "forged", "source": "made-up"}),
        _feedback(4, "click"),  # unattributed: still accepted
        _feedback(5, "click", request_id="r1"),  # incomplete: dead-lettered, not counted
        _event(6),  # a connect: not feedback
    ]
    status, reply = client.request("POST", "/v1/events", orjson.dumps(body))
    assert status == 202 and (reply["accepted"], reply["rejected"]) == (6, 1)
    assert reply["errors"][0]["reason"] == "incomplete_attribution"

    def value(etype: str, version: str, source: str) -> float | None:
        labels = {"type": etype, "model_version": version, "source": source}
        return metrics.registry.get_sample_value("pymk_feedback_events_total", labels)

    assert value("impression", "v0001-test", "precomputed") == 2
    assert value("click", "v0001-test", "precomputed") == 1
    assert value("impression", "other", "other") == 1
    assert value("click", "none", "none") == 1
    assert value("connect", "none", "none") is None
