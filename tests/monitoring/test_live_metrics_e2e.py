"""Issue 6's "done when" for service metrics: ``pymk serve`` (HTTP and gRPC) and ``pymk worker
--metrics-port`` running against ``pymk simulate --live``; both ``/metrics`` endpoints scraped and every
family the issue names checked against what the test itself sent.

The home is simulated, trained with the tiny pipeline, batched and monitored once (so a drift report
exists) in-process; then, as subprocesses in their own process groups (killed whole on teardown: granian's
workers can outlive SIGTERM): the server, the worker consuming the home's stream file, and the live
simulator publishing into that file. The test sends GETs (known users, an unknown one, bad ``k``), a batch,
gRPC calls, impression/click feedback attributed to served lists (and one invalid event) to
``POST /v1/events``, and one invalid record straight into the stream, then waits until the worker has
consumed every line of the stream file.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

_CLI = [sys.executable, "-c", "from pymk.cli import main; main()"]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass(frozen=True)
class Home:
    path: Path
    version: str
    users: list[str]  # users with a precomputed list


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    """A small simulated home: trained (tiny pipeline), promoted, batched, and one drift report."""
    import numpy as np

    from _tiny import TINY_PIPELINE
    from pymk.config import load_settings
    from pymk.events.ids import IdMap
    from pymk.io.importer import import_file
    from pymk.models.bundle import config_from_dict
    from pymk.monitoring.monitor import run_monitor
    from pymk.serving.batch import run_batch
    from pymk.sim import SimConfig, simulate, write_jsonl
    from pymk.training.tracking import MemoryTracker
    from pymk.training.train import train_home

    root = tmp_path_factory.mktemp("live-metrics")
    events = root / "events.jsonl"
    write_jsonl(simulate(SimConfig(users=200, days=30, seed=1)), events)
    settings = load_settings(home=root / "home", tracking_url="memory://")
    import_file(events, "events-jsonl", settings)
    result = train_home(settings, config=config_from_dict(TINY_PIPELINE), tracker=MemoryTracker())
    assert result.promoted
    run_batch(settings, k=50, workers=1)
    run_monitor(settings)  # drift-latest.json: what the /metrics drift collector reads
    lists = settings.home / "lists"
    id_map = IdMap.load(lists / (lists / "CURRENT").read_text().strip() / "ids.arrow")
    users = [str(u) for u in id_map.decode(np.arange(min(len(id_map), 20)))]
    return Home(settings.home, result.version, users)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _request(url: str, body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _samples(url: str) -> Samples:
    status, body = _request(url)
    assert status == 200, body[:500]
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def _wait(what: str, done: Callable[[], bool], procs: dict[str, subprocess.Popen[bytes]], s: float) -> None:
    deadline = time.monotonic() + s
    while not done():
        for name, proc in procs.items():
            assert proc.poll() is None, f"{name} exited with {proc.returncode} while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # what is left of the group (granian workers, the gRPC child)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


@dataclass(frozen=True)
class Running:
    base: str
    grpc: str
    worker: str
    stream: Path
    procs: dict[str, subprocess.Popen[bytes]]


@pytest.fixture
def running(home: Home, tmp_path: Path) -> Iterator[Running]:
    """``pymk serve`` (HTTP + gRPC, one worker) and ``pymk worker --metrics-port`` over ``home``."""
    http, grpc_port, worker_port = _free_port(), _free_port(), _free_port()
    stream = home.path / "stream" / "events.jsonl"
    env = {
        **os.environ,
        "PYMK_HOME": str(home.path),
        "PYMK_EVENTS_URL": f"file:{stream}",
        "PYMK_TRACKING_URL": "memory://",
        "PYMK_METRICS_FLUSH_S": "0.2",
        "PYMK_WORKER_POLL_S": "0.2",
        "PYMK_LOG_LEVEL": "WARNING",
        "TMPDIR": str(tmp_path),
    }
    for name in ("PROMETHEUS_MULTIPROC_DIR", "PYMK_CONFIG", "PYMK_METRICS_ENABLED"):
        env.pop(name, None)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    logs = {name: (tmp_path / f"{name}.log").open("wb") for name in ("serve", "worker")}
    try:
        serve = [*_CLI, "serve", "--port", str(http), "--grpc-port", str(grpc_port), "--workers", "1"]
        worker = [*_CLI, "worker", "--metrics-port", str(worker_port)]
        for name, command in (("serve", serve), ("worker", worker)):
            procs[name] = subprocess.Popen(
                command, env=env, stdout=logs[name], stderr=subprocess.STDOUT, start_new_session=True
            )
        run = Running(
            f"http://127.0.0.1:{http}",
            f"127.0.0.1:{grpc_port}",
            f"http://127.0.0.1:{worker_port}",
            stream,
            procs,
        )

        def up(url: str) -> Callable[[], bool]:
            def check() -> bool:
                try:
                    return _request(url)[0] == 200
                except OSError:
                    return False

            return check

        _wait("pymk serve /readyz", up(f"{run.base}/readyz"), procs, 60)
        _wait("pymk worker /metrics", up(f"{run.worker}/metrics"), procs, 60)
        yield run
    except BaseException:
        for name, log in logs.items():
            log.flush()
            sys.stderr.write(f"--- {name} log ---\n{(tmp_path / f'{name}.log').read_text()[-3000:]}\n")
        raise
    finally:
        for proc in procs.values():
            _stop(proc)
        for log in logs.values():
            log.close()


def _grpc_calls(address: str, users: list[str]) -> tuple[int, int]:
    """Recommend for each of ``users`` plus an unknown one, one RecommendBatch; (ok, not found)."""
    import grpc

    from pymk.serving.proto import recommender_pb2 as pb
    from pymk.serving.proto import recommender_pb2_grpc as pb_grpc

    ok = missing = 0
    with grpc.insecure_channel(address) as channel:
        grpc.channel_ready_future(channel).result(timeout=30)
        stub = pb_grpc.RecommenderStub(channel)
        for user in [*users, "nobody-at-all"]:
            try:
                stub.Recommend(pb.RecommendRequest(user_id=user, k=5))
                ok += 1
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.NOT_FOUND
                missing += 1
        stub.RecommendBatch(pb.RecommendBatchRequest(user_ids=users[:3], k=5))
    return ok, missing


def _feedback(lists: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int, int]:
    """An impression of every item of ``lists`` and a click on each first item, attributed by the lists'
    request ids; (events, impressions, clicks)."""
    events, now = [], time.time()
    for served in lists:
        props = {k: served[k] for k in ("request_id", "model_version", "source")}
        for position, item in enumerate(served["items"]):
            kind = ["impression", "click"] if position == 0 else ["impression"]
            events += [
                {
                    "event_id": f"fb-{served['request_id']}-{position}-{t}",
                    "ts": now,
                    "type": t,
                    "actor": served["user_id"],
                    "target": item["user_id"],
                    "props": {**props, "position": position},
                }
                for t in kind
            ]
    impressions = sum(e["type"] == "impression" for e in events)
    return events, impressions, len(events) - impressions


def _stream_records(stream: Path) -> int:
    return sum(1 for line in stream.read_bytes().splitlines() if line.strip())


def test_live_stream_metrics(home: Home, running: Running) -> None:
    from pymk.errors import InvalidRecord
    from pymk.events.validation import parse_event

    run = running
    live = subprocess.run(
        [*_CLI, "simulate", "--live", "--to", f"file:{run.stream}", "--users", "150", "--days", "2"]
        + ["--seed", "7", "--rate", "3000", "--events", "1500"],
        env={**os.environ, "PYMK_HOME": str(home.path)},
        capture_output=True,
        timeout=90,
        check=False,
    )
    assert live.returncode == 0, live.stdout.decode()[-2000:] + live.stderr.decode()[-2000:]
    assert _stream_records(run.stream) == 1500

    # HTTP reads: known users (k=5 and the default), an unknown user, two bad k, a batch.
    served = []
    for user in home.users[:8]:
        for query in ("?k=5", ""):
            status, body = _request(f"{run.base}/v1/users/{user}/recommendations{query}")
            assert status == 200, body
            served.append(orjson.loads(body))
    assert _request(f"{run.base}/v1/users/nobody-at-all/recommendations")[0] == 404
    assert _request(f"{run.base}/v1/users/{home.users[0]}/recommendations?k=0")[0] == 422
    assert _request(f"{run.base}/v1/users/{home.users[0]}/recommendations?k=many")[0] == 422
    batch = orjson.dumps({"user_ids": home.users[:4], "k": 3})
    assert _request(f"{run.base}/v1/recommendations:batch", batch)[0] == 200
    grpc_ok, grpc_missing = _grpc_calls(run.grpc, home.users[:5])
    assert (grpc_ok, grpc_missing) == (5, 1)

    # Feedback on what was served, one invalid event with it; one invalid record straight into the stream.
    events, impressions, clicks = _feedback(served[:6])
    assert impressions > 0 and clicks > 0
    self_edge = {"event_id": "fb-bad", "ts": time.time(), "type": "click", "actor": "u1", "target": "u1"}
    status, body = _request(f"{run.base}/v1/events", orjson.dumps([*events, self_edge]))
    assert status == 202, body
    reply = orjson.loads(body)
    assert reply["accepted"] == len(events) and reply["rejected"] == 1
    intake_reason = reply["errors"][0]["reason"]
    bad = {"event_id": "stream-bad", "ts": time.time(), "type": "poke", "actor": "u1", "target": "u2"}
    with pytest.raises(InvalidRecord) as rejected:
        parse_event(orjson.dumps(bad))
    with run.stream.open("ab") as f:
        f.write(orjson.dumps(bad) + b"\n")
    records = _stream_records(run.stream)
    assert records == 1500 + len(events) + 1

    def worker_done() -> bool:
        got = _samples(f"{run.worker}/metrics")
        consumed = sum(
            _value(got, "pymk_worker_records_total", outcome=o) or 0
            for o in ("applied", "duplicate", "rejected")
        )
        return consumed >= records

    _wait("the worker to consume the stream", worker_done, run.procs, 60)

    # The server's /metrics: its counts are flushed every 0.2 s by each process (HTTP worker, gRPC).
    def grpc_counted() -> bool:
        got = _samples(f"{run.base}/metrics")
        return _value(got, "pymk_http_requests_total", endpoint="grpc_recommend_batch", status="200") == 1

    _wait("the gRPC counts in /metrics", grpc_counted, run.procs, 15)
    s = _samples(f"{run.base}/metrics")

    def v(name: str, **labels: str) -> float | None:
        return _value(s, name, **labels)

    rec = {"endpoint": "recommendations", "source": "precomputed"}
    assert v("pymk_http_request_duration_seconds_count", **rec) == len(served)
    for le in ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "+Inf"):
        assert v("pymk_http_request_duration_seconds_bucket", le=le, **rec) is not None, le
    under_budget = v("pymk_http_request_duration_seconds_bucket", le="0.05", **rec)
    assert under_budget is not None and 0 < under_budget <= len(served)
    total_s = v("pymk_http_request_duration_seconds_sum", **rec)
    assert total_s is not None and 0 < total_s < 10 * len(served)
    assert v("pymk_http_request_duration_seconds_count", endpoint="recommendations", source="none") == 3
    assert v("pymk_http_requests_total", endpoint="recommendations", status="200") == len(served)
    assert v("pymk_http_requests_total", endpoint="recommendations", status="404") == 1
    assert v("pymk_http_requests_total", endpoint="recommendations", status="422") == 2
    assert v("pymk_http_errors_total", endpoint="recommendations", status="404") == 1
    assert v("pymk_http_errors_total", endpoint="recommendations", status="422") == 2
    assert v("pymk_http_errors_total", endpoint="recommendations", status="200") is None
    assert v("pymk_http_requests_total", endpoint="batch", status="200") == 1
    assert v("pymk_http_requests_total", endpoint="events", status="202") == 1
    # gRPC, counted by its own process into the server's multiprocess directory.
    assert v("pymk_http_requests_total", endpoint="grpc_recommend", status="200") == grpc_ok
    assert v("pymk_http_errors_total", endpoint="grpc_recommend", status="404") == grpc_missing
    grpc_rec = {"endpoint": "grpc_recommend", "source": "precomputed"}
    assert v("pymk_http_request_duration_seconds_count", **grpc_rec) == grpc_ok
    # In flight: this scrape, and nothing else (the gRPC process reports 0).
    assert v("pymk_http_requests_in_flight") == 1
    # Model version: the trained, promoted one, and when it was registered.
    assert v("pymk_model_version_info", version=home.version, role="control") == 1
    created = v("pymk_model_created_timestamp_seconds", version=home.version)
    assert created is not None and time.time() - 86_400 < created <= time.time()
    # List lengths: exactly what the GETs returned.
    lengths = [len(r["items"]) for r in served]
    assert v("pymk_recommendation_list_length_count", endpoint="recommendations") == len(served)
    assert v("pymk_recommendation_list_length_sum", endpoint="recommendations") == sum(lengths)
    assert v("pymk_recommendation_list_length_bucket", endpoint="recommendations", le="5.0") == sum(
        n <= 5 for n in lengths
    )
    assert v("pymk_recommendation_list_length_count", endpoint="batch") == 4
    assert v("pymk_recommendation_list_length_count", endpoint="grpc_recommend") == grpc_ok
    # Source mix: every list of this run is precomputed (hybrid, lists of the active version).
    assert {r["source"] for r in served} == {"precomputed"}
    assert v("pymk_recommendation_lists_total", source="precomputed") == len(served) + 4 + grpc_ok + 3
    # Intake and feedback.
    assert v("pymk_intake_events_total", outcome="accepted") == len(events)
    assert v("pymk_intake_events_total", outcome="rejected") == 1
    assert v("pymk_intake_dead_letters_total", reason=intake_reason) == 1
    feedback = {"model_version": home.version, "source": "precomputed"}
    assert v("pymk_feedback_events_total", type="impression", **feedback) == impressions
    assert v("pymk_feedback_events_total", type="click", **feedback) == clicks
    # Drift: the report run_monitor wrote, read at scrape time.
    assert v("pymk_drift_report_valid") == 1
    assert v("pymk_drift_detected") in (0.0, 1.0)
    share = v("pymk_drift_share_drifted")
    assert share is not None and 0 <= share <= 1
    assert v("pymk_drift_report_info", model_version=home.version) == 1
    generated = v("pymk_drift_generated_timestamp_seconds")
    assert generated is not None and time.time() - 3600 < generated <= time.time()
    for family in ("pymk_drift_feature_value", "pymk_drift_feature_threshold", "pymk_drift_feature_drifted"):
        features = {dict(k[1])["feature"] for k in s if k[0] == family}
        assert {"new_user", "activity", "degree"} <= features, family
    # Hybrid serving of lists of the active version: nothing was answered past the real-time budget.
    assert v("pymk_realtime_fallbacks_total") == 0

    # The worker's /metrics.
    w = _samples(f"{run.worker}/metrics")
    applied = _value(w, "pymk_worker_records_total", outcome="applied")
    duplicate = _value(w, "pymk_worker_records_total", outcome="duplicate")
    assert _value(w, "pymk_worker_records_total", outcome="rejected") == 1
    assert applied is not None and duplicate is not None and applied + duplicate + 1 == records
    assert applied >= len(events)  # the feedback events have fresh ids; simulated ones may repeat
    assert _value(w, "pymk_worker_dead_letters_total", reason=rejected.value.reason) == 1
    lag = _value(w, "pymk_worker_consumer_lag_records")
    assert lag is not None and 0 <= lag <= records
    fresh = _value(w, "pymk_worker_event_freshness_seconds_count")
    assert fresh == applied  # one observation per applied event
    # Live events are stamped when published: each was applied within a minute of its time.
    assert _value(w, "pymk_worker_event_freshness_seconds_bucket", le="60.0") == applied
    batches = _value(w, "pymk_worker_batch_duration_seconds_count")
    assert batches is not None and batches >= 1
