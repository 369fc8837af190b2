"""JSON log lines of requests, and ``pymk worker``'s metrics after a small batch."""

from __future__ import annotations

import io
import logging
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from mon_helpers import call
from prometheus_client.parser import text_string_to_metric_families
from serving_helpers import fill

from pymk.events.deadletter import MemoryDeadLetterStore
from pymk.events.dedupe import SqliteSeenEvents
from pymk.monitoring.logs import ACCESS_LOGGER, AccessLog, JsonFormatter
from pymk.monitoring.worker import WorkerMetrics
from pymk.online import MemoryOnlineStore
from pymk.serving.http import create_app
from pymk.serving.lists_mmap import MmapListStore
from pymk.serving.service import RecommendationService
from pymk.stream import open_source
from pymk.stream.worker import Worker

pytestmark = pytest.mark.unit


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield out
    logger.removeHandler(handler)


def _parsed(out: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def test_request_lines_are_json_with_the_fields(tmp_path: Path, lines: io.StringIO) -> None:
    store = MmapListStore(tmp_path / "lists")
    fill(store)
    app = create_app(RecommendationService(store), access=AccessLog(sample_rate=1.0))
    call(app, "GET", "/v1/users/u3/recommendations?k=3", headers=[(b"x-request-id", b"req-1")])
    call(app, "GET", "/v1/users/nobody/recommendations")
    ok, missing = _parsed(lines)
    assert ok["request_id"] == "req-1" and ok["level"] == "INFO" and ok["outcome"] == "ok"
    assert ok["endpoint"] == "recommendations" and ok["status"] == 200 and ok["method"] == "GET"
    assert ok["model_version"] == "v0001-test" and ok["source"] == "precomputed" and ok["user_id"] == "u3"
    assert isinstance(ok["latency_ms"], float) and str(ok["ts"]).endswith("Z")
    assert missing["level"] == "WARNING" and missing["status"] == 404 and missing["outcome"] == "client_error"
    assert missing["request_id"] and missing["request_id"] != "req-1"
    assert "items" not in ok and "score" not in str(ok)  # ids only, no lists


def test_successes_are_sampled_errors_always_logged(tmp_path: Path, lines: io.StringIO) -> None:
    store = MmapListStore(tmp_path / "lists")
    fill(store)
    app = create_app(RecommendationService(store), access=AccessLog(sample_rate=0.0))
    for _ in range(20):
        call(app, "GET", "/v1/users/u3/recommendations")
    call(app, "GET", "/v1/users/u3/recommendations?k=0")
    (only,) = _parsed(lines)
    assert only["status"] == 422


def test_worker_metrics_after_a_small_batch(tmp_path: Path) -> None:
    now = time.time()
    valid = [
        {"event_id": f"e{i}", "ts": now - 2.0, "type": "like", "actor": f"u{i}", "target": f"u{i + 1}"}
        for i in range(5)
    ]
    bad = [
        b"not json",
        b'{"event_id": "b1", "ts": 1, "type": "poke", "actor": "u1", "target": "u2"}',
        b'{"event_id": "b2", "ts": 1, "type": "like", "actor": "u1", "target": "u1"}',
    ]
    stream = tmp_path / "events.jsonl"
    stream.write_bytes(b"\n".join([*(orjson.dumps(e) for e in valid), orjson.dumps(valid[0]), *bad]) + b"\n")
    metrics = WorkerMetrics()
    source = open_source(f"file://{stream}?follow=0")
    seen = SqliteSeenEvents(tmp_path / "seen.sqlite")
    letters = MemoryDeadLetterStore()
    try:
        worker = Worker(
            source,
            tmp_path / "home",
            seen=seen,
            deadletters=letters,
            online=MemoryOnlineStore(),
            source_name="s",
            batch_size=6,
            poll_s=0.01,
            hooks=[metrics],
            lag_every_s=0.0,
        )
        worker.run(idle_exit=0.05)
    finally:
        source.close()
        seen.close()
    port = metrics.serve(0, "127.0.0.1")
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    got = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }
    assert got[("pymk_worker_records_total", (("outcome", "applied"),))] == 5
    assert got[("pymk_worker_records_total", (("outcome", "duplicate"),))] == 1
    assert got[("pymk_worker_records_total", (("outcome", "rejected"),))] == 3
    reasons = {
        labels[0][1]: v for (name, labels), v in got.items() if name == "pymk_worker_dead_letters_total"
    }
    assert sum(reasons.values()) == 3 and len(reasons) == 3 and reasons == letters.counts_by_reason()
    assert got[("pymk_worker_consumer_lag_records", ())] == 0  # measured after the last batch
    assert got[("pymk_worker_event_freshness_seconds_count", ())] == 5
    assert got[("pymk_worker_event_freshness_seconds_bucket", (("le", "1.0"),))] == 0
    assert got[("pymk_worker_event_freshness_seconds_bucket", (("le", "2.5"),))] == 5
    assert got[("pymk_worker_batch_duration_seconds_count", ())] == 2
