"""``GET /metrics`` of the ASGI app in-process, request ids, and aggregation across processes."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest
from mon_helpers import call
from prometheus_client.parser import text_string_to_metric_families
from serving_helpers import fill

from pymk.events.deadletter import MemoryDeadLetterStore
from pymk.monitoring.metrics import ServeMetrics, exposition, join_multiprocess_dir, multiprocess_dir
from pymk.monitoring.recorder import RequestRecorder
from pymk.serving.http import create_app
from pymk.serving.intake import EventIntake
from pymk.serving.lists_mmap import MmapListStore
from pymk.serving.service import RecommendationService

pytestmark = pytest.mark.unit


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def service(tmp_path: Path) -> RecommendationService:
    store = MmapListStore(tmp_path / "lists")
    fill(store)
    return RecommendationService(store, max_batch=10)


def test_metrics_after_a_few_requests(
    service: RecommendationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert multiprocess_dir() is None
    monkeypatch.setattr(service, "model_versions", lambda: ["v0001-test", "v0002-ab"])
    service.late = 3
    app = create_app(service)
    for _ in range(3):
        assert call(app, "GET", "/v1/users/u3/recommendations")[0] == 200
    assert call(app, "GET", "/v1/users/u3/recommendations?k=4")[0] == 200
    assert call(app, "GET", "/v1/users/nobody/recommendations")[0] == 404
    assert (
        call(app, "POST", "/v1/recommendations:batch", b'{"user_ids": ["u1", "u2", "zz"], "k": 5}')[0] == 200
    )
    assert call(app, "GET", "/nowhere")[0] == 404
    status, headers, body = call(app, "GET", "/metrics")
    assert status == 200 and headers[b"content-type"].startswith(b"text/plain; version=0.0.4")
    got = _samples(body.decode())

    def value(name: str, **labels: str) -> float:
        return got[(name, frozenset(labels.items()))]

    assert value("pymk_http_requests_total", endpoint="recommendations", status="200") == 4
    assert value("pymk_http_requests_total", endpoint="recommendations", status="404") == 1
    assert value("pymk_http_errors_total", endpoint="recommendations", status="404") == 1
    assert value("pymk_http_errors_total", endpoint="other", status="404") == 1
    assert value("pymk_http_requests_total", endpoint="batch", status="200") == 1
    rec = {"endpoint": "recommendations", "source": "precomputed"}
    assert value("pymk_http_request_duration_seconds_count", **rec) == 4
    assert value("pymk_http_request_duration_seconds_bucket", le="0.05", **rec) == 4
    for le in ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25"):
        assert ("pymk_http_request_duration_seconds_bucket", frozenset({**rec, "le": le}.items())) in got
    assert value("pymk_http_request_duration_seconds_count", endpoint="recommendations", source="none") == 1
    assert value("pymk_recommendation_list_length_bucket", endpoint="recommendations", le="5.0") == 1
    assert value("pymk_recommendation_list_length_bucket", endpoint="recommendations", le="20.0") == 4
    assert value("pymk_recommendation_list_length_count", endpoint="batch") == 2
    assert value("pymk_recommendation_lists_total", source="precomputed") == 6
    assert value("pymk_realtime_fallbacks_total") == 3
    assert value("pymk_http_requests_in_flight") == 1  # the scrape itself
    assert value("pymk_model_version_info", version="v0001-test", role="control") == 1
    assert value("pymk_model_version_info", version="v0002-ab", role="challenger") == 1


def test_request_id_is_returned_and_an_incoming_one_kept(service: RecommendationService) -> None:
    app = create_app(service)
    _, first, _ = call(app, "GET", "/healthz")
    _, second, _ = call(app, "GET", "/v1/users/u1/recommendations")
    assert first[b"x-request-id"] != second[b"x-request-id"]
    _, kept, _ = call(app, "GET", "/healthz", headers=[(b"x-request-id", b"abc-123")])
    assert kept[b"x-request-id"] == b"abc-123"
    _, replaced, _ = call(app, "GET", "/healthz", headers=[(b"x-request-id", b"x" * 500)])
    assert replaced[b"x-request-id"] != b"x" * 500 and len(replaced[b"x-request-id"]) < 40


def _record_in_child(path: str, status: int, n: int) -> None:
    join_multiprocess_dir(Path(path))
    recorder = RequestRecorder(ServeMetrics(), versions=lambda: ["v1"])
    for _ in range(n):
        recorder.started()
        recorder.record("recommendations", "precomputed", status, 0.003, 20, 0.0)
    recorder.close()


def test_counts_of_two_processes_add_up(tmp_path: Path) -> None:
    spawn = multiprocessing.get_context("spawn")
    children = [
        spawn.Process(target=_record_in_child, args=(str(tmp_path), status, n))
        for status, n in ((200, 7), (200, 5), (500, 2))
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    got = _samples(exposition(ServeMetrics().registry, str(tmp_path)).decode())
    ok = frozenset({"endpoint": "recommendations", "status": "200"}.items())
    assert got[("pymk_http_requests_total", ok)] == 12
    assert (
        got[("pymk_http_errors_total", frozenset({"endpoint": "recommendations", "status": "500"}.items()))]
        == 2
    )
    latency = frozenset({"endpoint": "recommendations", "source": "precomputed", "le": "0.005"}.items())
    assert got[("pymk_http_request_duration_seconds_bucket", latency)] == 14
    assert got[("pymk_recommendation_lists_total", frozenset({"source": "precomputed"}.items()))] == 14


def test_the_loop_timer_flushes_an_idle_process() -> None:
    metrics = ServeMetrics()
    recorder = RequestRecorder(metrics, flush_s=0.05)

    async def idle_after_one_request() -> None:
        recorder.start(asyncio.get_running_loop())
        recorder.started()
        recorder.record("healthz", "none", 200, 0.001, -1, 0.0)
        assert value() is None  # not flushed yet: the request did not find a flush due
        await asyncio.sleep(0.2)
        assert value() == 1  # the timer flushed without another request
        recorder.close()

    def value() -> float | None:
        return metrics.registry.get_sample_value(
            "pymk_http_requests_total", {"endpoint": "healthz", "status": "200"}
        )

    asyncio.run(idle_after_one_request())


class _ListSink:
    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    def publish(self, payloads: Sequence[bytes], keys: Sequence[bytes | None] | None = None) -> None:
        self.payloads += payloads

    def close(self) -> None:
        pass


def test_posted_events_are_counted_with_dead_letter_reasons(service: RecommendationService) -> None:
    sink, letters = _ListSink(), MemoryDeadLetterStore()
    metrics = ServeMetrics()
    app = create_app(service, EventIntake(lambda: sink, lambda: letters), metrics=metrics)
    good = {"event_id": "e1", "ts": 1_790_000_000, "type": "connect", "actor": "a", "target": "b"}
    body = orjson.dumps([good, {**good, "event_id": "e2", "target": "a"}, {**good, "type": "poke"}])
    assert call(app, "POST", "/v1/events", body)[0] == 202
    value = metrics.registry.get_sample_value
    assert value("pymk_intake_events_total", {"outcome": "accepted"}) == 1
    assert value("pymk_intake_events_total", {"outcome": "rejected"}) == 2
    by_reason = letters.counts_by_reason()
    assert len(by_reason) == 2
    for reason, n in by_reason.items():
        assert value("pymk_intake_dead_letters_total", {"reason": reason}) == n
