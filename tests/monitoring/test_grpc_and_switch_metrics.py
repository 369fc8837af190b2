"""gRPC calls counted in the serving families (endpoint ``grpc_*``, HTTP-equivalent status), and the
``metrics_enabled`` switch: off, nothing is counted and ``/metrics`` answers 404."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import orjson
import pytest
from mon_helpers import call
from serving_helpers import fill

from pymk.config import load_settings
from pymk.events.deadletter import MemoryDeadLetterStore
from pymk.monitoring.metrics import ServeMetrics
from pymk.monitoring.recorder import RequestRecorder, ThreadedRecorder
from pymk.serving.grpc_server import create_server
from pymk.serving.http import create_app
from pymk.serving.intake import EventIntake
from pymk.serving.lists_mmap import MmapListStore
from pymk.serving.proto import recommender_pb2 as pb
from pymk.serving.proto import recommender_pb2_grpc as pb_grpc
from pymk.serving.service import RecommendationService

pytestmark = pytest.mark.unit


@pytest.fixture
def service(tmp_path: Path) -> RecommendationService:
    store = MmapListStore(tmp_path / "lists")
    fill(store)
    return RecommendationService(store, max_batch=10)


@pytest.fixture
def grpc_counted(
    service: RecommendationService,
) -> Iterator[tuple[pb_grpc.RecommenderStub, ServeMetrics, ThreadedRecorder]]:
    """A gRPC server whose calls a :class:`ThreadedRecorder` counts (flushing every 50 ms)."""
    metrics = ServeMetrics()
    recorder = ThreadedRecorder(
        RequestRecorder(metrics, flush_s=0.05, versions=lambda: ["v0001-test"])
    ).start()
    server, port = create_server(service, "127.0.0.1:0", threads=2, recorder=recorder)
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield pb_grpc.RecommenderStub(channel), metrics, recorder
    finally:
        server.stop(None)
        recorder.close()


def test_grpc_calls_are_counted(
    grpc_counted: tuple[pb_grpc.RecommenderStub, ServeMetrics, ThreadedRecorder],
) -> None:
    stub, metrics, _ = grpc_counted
    for _ in range(3):
        assert len(stub.Recommend(pb.RecommendRequest(user_id="u3", k=4)).items) == 4
    with pytest.raises(grpc.RpcError) as missing:
        stub.Recommend(pb.RecommendRequest(user_id="nobody"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as bad_k:
        stub.Recommend(pb.RecommendRequest(user_id="u3", k=0))
    assert bad_k.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    batch = stub.RecommendBatch(pb.RecommendBatchRequest(user_ids=["u1", "u2", "zz"], k=5))
    assert [r.HasField("error") for r in batch.results] == [False, False, True]

    value = metrics.registry.get_sample_value
    deadline = time.monotonic() + 5  # no explicit flush: the recorder's thread moves the counts
    while value("pymk_http_requests_total", {"endpoint": "grpc_recommend_batch", "status": "200"}) is None:
        assert time.monotonic() < deadline, "the flushing thread never flushed"
        time.sleep(0.02)

    def requests(endpoint: str, status: str) -> float | None:
        return value("pymk_http_requests_total", {"endpoint": endpoint, "status": status})

    assert requests("grpc_recommend", "200") == 3
    assert requests("grpc_recommend", "404") == 1
    assert requests("grpc_recommend", "422") == 1
    assert value("pymk_http_errors_total", {"endpoint": "grpc_recommend", "status": "404"}) == 1
    assert value("pymk_http_errors_total", {"endpoint": "grpc_recommend", "status": "422"}) == 1
    assert value("pymk_http_errors_total", {"endpoint": "grpc_recommend", "status": "200"}) is None
    assert requests("grpc_recommend_batch", "200") == 1
    ok = {"endpoint": "grpc_recommend", "source": "precomputed"}
    assert value("pymk_http_request_duration_seconds_count", ok) == 3
    assert value("pymk_http_request_duration_seconds_bucket", {**ok, "le": "0.05"}) is not None
    failed = {"endpoint": "grpc_recommend", "source": "none"}
    assert value("pymk_http_request_duration_seconds_count", failed) == 2
    assert value("pymk_recommendation_list_length_count", {"endpoint": "grpc_recommend"}) == 3
    assert value("pymk_recommendation_list_length_bucket", {"endpoint": "grpc_recommend", "le": "5.0"}) == 3
    assert value("pymk_recommendation_list_length_count", {"endpoint": "grpc_recommend_batch"}) == 2
    assert value("pymk_recommendation_lists_total", {"source": "precomputed"}) == 5
    assert value("pymk_http_requests_in_flight") == 0
    assert value("pymk_model_version_info", {"version": "v0001-test", "role": "control"}) == 1


def test_an_unexpected_error_counts_as_500(
    grpc_counted: tuple[pb_grpc.RecommenderStub, ServeMetrics, ThreadedRecorder],
    service: RecommendationService,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stub, metrics, recorder = grpc_counted

    def broken(user_id: str, k: int) -> None:
        raise RuntimeError("store gone")

    monkeypatch.setattr(service, "one", broken)
    with pytest.raises(grpc.RpcError) as failed:
        stub.Recommend(pb.RecommendRequest(user_id="u3"))
    assert failed.value.code() == grpc.StatusCode.UNKNOWN
    recorder.flush()
    value = metrics.registry.get_sample_value
    assert value("pymk_http_errors_total", {"endpoint": "grpc_recommend", "status": "500"}) == 1
    assert value("pymk_http_requests_in_flight") == 0


def test_switched_off_nothing_is_counted_and_metrics_is_404(service: RecommendationService) -> None:
    metrics = ServeMetrics()
    intake = EventIntake(lambda: _NullSink(), MemoryDeadLetterStore)
    app = create_app(service, intake, metrics=metrics, metrics_enabled=False)
    assert call(app, "GET", "/v1/users/u3/recommendations")[0] == 200
    assert call(app, "GET", "/v1/users/nobody/recommendations")[0] == 404
    event = {"event_id": "e1", "ts": 1_790_000_000, "type": "impression", "actor": "a", "target": "b"}
    status, _, reply = call(app, "POST", "/v1/events", orjson.dumps([event, {**event, "type": "poke"}]))
    assert status == 202 and orjson.loads(reply)["accepted"] == 1  # the intake itself still works
    status, headers, body = call(app, "GET", "/metrics")
    assert status == 404 and headers[b"content-type"] == b"application/json"
    assert "PYMK_METRICS_ENABLED" in orjson.loads(body)["message"]
    assert b"x-request-id" in headers
    counted = [
        s
        for family in metrics.registry.collect()
        for s in family.samples
        if s.value and "_created" not in s.name
    ]
    assert counted == []
    # The same app switched on counts the same requests (the check above can fail).
    on = create_app(service, intake, metrics=metrics)
    call(on, "GET", "/v1/users/u3/recommendations")
    call(on, "POST", "/v1/events", orjson.dumps([event]))
    assert call(on, "GET", "/metrics")[0] == 200
    value = metrics.registry.get_sample_value
    assert value("pymk_http_requests_total", {"endpoint": "recommendations", "status": "200"}) == 1
    assert value("pymk_intake_events_total", {"outcome": "accepted"}) == 1


def test_the_setting_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().metrics_enabled is True
    monkeypatch.setenv("PYMK_METRICS_ENABLED", "false")
    assert load_settings().metrics_enabled is False


class _NullSink:
    def publish(self, payloads: object, keys: object = None) -> None:
        pass

    def close(self) -> None:
        pass
