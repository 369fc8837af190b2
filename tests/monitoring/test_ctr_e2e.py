"""End to end in-process: lists with request ids from the HTTP app, simulated feedback POSTed back to
``/v1/events``, and what reached the event stream attributed to the version that served the lists."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import orjson
import pyarrow as pa
import pytest
from serving_helpers import AsgiClient, FakeRecommender, fill

from pymk.events.deadletter import MemoryDeadLetterStore
from pymk.events.validation import parse_event
from pymk.monitoring.ctr import UNATTRIBUTED, ctr_report
from pymk.monitoring.metrics import ServeMetrics
from pymk.serving.http import create_app
from pymk.serving.intake import EventIntake
from pymk.serving.lists_mmap import MmapListStore
from pymk.serving.service import RecommendationService
from pymk.sim.feedback import FeedbackConfig, ServedList, as_events, simulate_feedback

pytestmark = pytest.mark.unit
T0 = 1_790_000_000.0


class ListSink:
    """The event stream: keeps what the intake published."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    def publish(self, payloads: Sequence[bytes], keys: Sequence[bytes | None] | None = None) -> None:
        self.payloads += payloads

    def close(self) -> None:
        pass


def test_served_lists_feedback_and_attribution(tmp_path: Path) -> None:
    store = MmapListStore(tmp_path / "lists")
    fill(store)
    metrics, sink = ServeMetrics(), ListSink()
    app = create_app(
        RecommendationService(store), EventIntake(lambda: sink, MemoryDeadLetterStore), metrics=metrics
    )
    client = AsgiClient(app)
    lists = []
    for i in range(20):
        status, body = client.request("GET", f"/v1/users/u{i}/recommendations?k=5")
        assert status == 200
        lists.append(ServedList.from_response(body, T0 + 60 * i))
    _, batch = client.request("POST", "/v1/recommendations:batch", orjson.dumps({"user_ids": ["u30", "u31"]}))
    lists += [ServedList.from_response(r, T0 + 3600) for r in batch["results"]]
    assert len({s.request_id for s in lists}) == 21  # one id per request, shared by the batch
    truth = {frozenset((s.user_id, s.items[0])) for s in lists if s.items}
    feedback = simulate_feedback(
        lists, truth, FeedbackConfig(repeat_share=0.3, unattributed_share=0.2, p_click_false=0.1, seed=2)
    )
    events = as_events(feedback)
    ndjson = b"\n".join(orjson.dumps(e) for e in events)
    status, reply = client.request("POST", "/v1/events", ndjson)
    assert status == 202 and reply == {"accepted": len(events), "rejected": 0, "errors": []}

    published = [parse_event(p).to_dict() for p in sink.payloads]
    table = pa.Table.from_pylist(
        [{**e, "props": orjson.dumps(e["props"]).decode() if e["props"] else None} for e in published]
    )
    report = ctr_report(table)
    version = FakeRecommender.model_version
    row = report.total(version, "precomputed")
    attributed = [e for e in events if e["props"]]
    shown = {
        (e["props"]["request_id"], e["actor"], e["target"]) for e in attributed if e["type"] == "impression"
    }
    clicked = {
        (e["props"]["request_id"], e["actor"], e["target"]) for e in attributed if e["type"] == "click"
    }
    assert row is not None and (row.impressions, row.clicks) == (len(shown), len(shown & clicked))
    assert {r.model_version for r in report.totals} <= {version, UNATTRIBUTED}
    assert report.total(version, "realtime") is None
    # The same events on the Prometheus counters (every event, repeats included).
    for etype in ("impression", "click"):
        value = metrics.registry.get_sample_value(
            "pymk_feedback_events_total", {"type": etype, "model_version": version, "source": "precomputed"}
        )
        assert value == sum(1 for e in attributed if e["type"] == etype)
