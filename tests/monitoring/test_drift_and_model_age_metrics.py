"""The drift report's gauges on ``/metrics`` and the loaded model version's registration time."""

from __future__ import annotations

import json
import logging
import multiprocessing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mon_helpers import call
from prometheus_client.parser import text_string_to_metric_families
from serving_helpers import fill

from pymk.config import load_settings
from pymk.monitoring.drift import DriftConfig, dataset_drift
from pymk.monitoring.drift_metrics import DRIFT_REPORT, DriftCollector, scrape_collectors
from pymk.monitoring.metrics import ServeMetrics, exposition, join_multiprocess_dir
from pymk.monitoring.monitor import DriftReport as WrittenReport
from pymk.monitoring.monitor import write_report
from pymk.monitoring.profile import Window
from pymk.monitoring.recorder import RequestRecorder, version_created_timestamp
from pymk.registry.manifest import format_version_id
from pymk.serving.http import create_app
from pymk.serving.lists_mmap import MmapListStore
from pymk.serving.service import RecommendationService

pytestmark = pytest.mark.unit

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _samples(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


def _report(**changes: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "generated_at": "2026-11-27T11:30:05Z",
        "model_version": "v0003-20261127T0300Z",
        "window": {"start": "2026-11-27T10:30:00Z", "end": "2026-11-27T11:30:00Z", "events": 5000},
        "drifted": True,
        "share_drifted": 0.5,
        "features": [
            {"name": "degree", "kind": "numeric", "stat": "psi", "value": 0.31, "threshold": 0.2,
             "drifted": True},
            {"name": "new_user_share", "kind": "numeric", "stat": "psi", "value": 0.05, "threshold": 0.2,
             "drifted": False},
        ],
    }  # fmt: skip
    report.update(changes)
    return report


def _write(home: Path, report: dict[str, Any] | str) -> Path:
    path = home / DRIFT_REPORT
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report if isinstance(report, str) else json.dumps(report))
    return path


def _drift_samples(home: Path) -> Samples:
    return _samples(exposition(ServeMetrics().registry, collectors=[DriftCollector.for_home(home)]).decode())


def test_a_drift_report_becomes_gauges(tmp_path: Path) -> None:
    _write(tmp_path, _report())
    got = _drift_samples(tmp_path)
    assert got[_key("pymk_drift_report_valid")] == 1
    assert got[_key("pymk_drift_report_info", model_version="v0003-20261127T0300Z")] == 1
    assert got[_key("pymk_drift_detected")] == 1
    assert got[_key("pymk_drift_share_drifted")] == 0.5
    expected_ts = datetime(2026, 11, 27, 11, 30, 5, tzinfo=UTC).timestamp()
    assert got[_key("pymk_drift_generated_timestamp_seconds")] == expected_ts
    degree = {"feature": "degree", "kind": "numeric", "stat": "psi"}
    assert got[_key("pymk_drift_feature_value", **degree)] == pytest.approx(0.31)
    assert got[_key("pymk_drift_feature_threshold", **degree)] == pytest.approx(0.2)
    assert got[_key("pymk_drift_feature_drifted", feature="degree")] == 1
    assert got[_key("pymk_drift_feature_drifted", feature="new_user_share")] == 0
    # The serve families are still there, once: the drift ones came after them.
    assert any(name == "pymk_http_requests_in_flight" for name, _ in got)


def test_the_file_is_read_at_each_scrape_and_a_quiet_report_says_zero(tmp_path: Path) -> None:
    collector = DriftCollector.for_home(tmp_path)
    registry = ServeMetrics().registry
    assert (
        _samples(exposition(registry, collectors=[collector]).decode()).get(_key("pymk_drift_report_valid"))
        is None
    )  # no report yet: no drift sample at all
    _write(tmp_path, _report(drifted=False, share_drifted=0.0, generated_at="2026-11-28T00:00:00"))
    got = _samples(exposition(registry, collectors=[collector]).decode())
    assert got[_key("pymk_drift_detected")] == 0 and got[_key("pymk_drift_share_drifted")] == 0
    # A time without a zone is UTC.
    assert (
        got[_key("pymk_drift_generated_timestamp_seconds")] == datetime(2026, 11, 28, tzinfo=UTC).timestamp()
    )


def test_a_repeated_feature_name_is_exposed_once(tmp_path: Path) -> None:
    """Two samples with one label set would make Prometheus reject the whole scrape."""
    first = {"name": "degree", "kind": "numeric", "stat": "ks", "value": 0.001, "threshold": 0.05}
    again = {"name": "degree", "kind": "numeric", "stat": "psi", "value": 0.01, "threshold": 0.2}
    _write(tmp_path, _report(features=[{**first, "drifted": True}, {**again, "drifted": False}]))
    got = _drift_samples(tmp_path)
    values = {k: v for k, v in got.items() if k[0] == "pymk_drift_feature_value"}
    assert values == {_key("pymk_drift_feature_value", feature="degree", kind="numeric", stat="ks"): 0.001}
    assert got[_key("pymk_drift_feature_drifted", feature="degree")] == 1


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not a drift report"),
        (json.dumps(_report(share_drifted=1.5)), "share_drifted"),
        (json.dumps({k: v for k, v in _report().items() if k != "drifted"}), "drifted"),
        (json.dumps(_report(features=[{"name": "degree"}])), "features.0.kind"),
    ],
)
def test_an_invalid_report_is_flagged_not_exposed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str, problem: str
) -> None:
    _write(tmp_path, content)
    collector = DriftCollector.for_home(tmp_path)
    with caplog.at_level(logging.WARNING, logger="pymk.monitoring.drift_metrics"):
        for _ in range(3):
            got = _drift_samples_of(collector)
            assert got == {_key("pymk_drift_report_valid"): 0}
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and problem in warnings[0] and str(DRIFT_REPORT) in warnings[0]


def _drift_samples_of(collector: DriftCollector) -> Samples:
    text = exposition(ServeMetrics().registry, collectors=[collector]).decode()
    return {k: v for k, v in _samples(text).items() if k[0].startswith("pymk_drift_")}


def test_serve_metrics_read_the_report_of_pymk_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``/metrics`` of the app picks the report of ``PYMK_HOME`` (exported by ``pymk serve``)."""
    store = MmapListStore(tmp_path / "lists")
    fill(store)
    app = create_app(RecommendationService(store, max_batch=10))
    monkeypatch.delenv("PYMK_HOME", raising=False)
    assert scrape_collectors() == []
    monkeypatch.setenv("PYMK_HOME", str(tmp_path))
    _write(tmp_path, _report(share_drifted=0.25))
    status, _, body = call(app, "GET", "/metrics")
    got = _samples(body.decode())
    assert status == 200 and got[_key("pymk_drift_share_drifted")] == 0.25
    assert got[_key("pymk_http_requests_in_flight")] == 1  # this scrape itself


def test_version_ids_carry_their_registration_time() -> None:
    when = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    assert version_created_timestamp(format_version_id(12, when)) == when.timestamp()
    for other in ("v0001-test", "model-a", "v1", "vx-20261125T0300Z", "v0002-20261325T0300Z"):
        assert version_created_timestamp(other) is None


def test_loaded_versions_expose_their_creation_time_and_zero_once_dropped() -> None:
    metrics = ServeMetrics()
    loaded = ["v0004-20261126T0300Z", "v0005-20261127T0300Z"]
    recorder = RequestRecorder(metrics, versions=lambda: list(loaded))
    recorder.flush()

    def created(version: str) -> float | None:
        return metrics.registry.get_sample_value("pymk_model_created_timestamp_seconds", {"version": version})

    assert created("v0004-20261126T0300Z") == datetime(2026, 11, 26, 3, 0, tzinfo=UTC).timestamp()
    assert created("v0005-20261127T0300Z") == datetime(2026, 11, 27, 3, 0, tzinfo=UTC).timestamp()
    loaded[:] = ["v0005-20261127T0300Z"]  # the challenger's A/B ended
    recorder.flush()
    assert created("v0004-20261126T0300Z") == 0
    assert created("v0005-20261127T0300Z") == datetime(2026, 11, 27, 3, 0, tzinfo=UTC).timestamp()
    # A second recorder on the same families (another app in the process) shares the gauge.
    RequestRecorder(metrics, versions=lambda: ["v0006-20261128T0300Z"]).flush()
    assert created("v0006-20261128T0300Z") == datetime(2026, 11, 28, 3, 0, tzinfo=UTC).timestamp()


def _scrape_in_multiprocess_mode(directory: str, versions: list[str], out: Any) -> None:
    """A spawned process in multiprocess mode: record its loaded versions, then scrape (while alive)."""
    join_multiprocess_dir(Path(directory))
    RequestRecorder(ServeMetrics(), versions=lambda: versions).flush()
    out.put(exposition(ServeMetrics().registry, collectors=[]).decode())


def test_model_creation_time_in_multiprocess_mode(tmp_path: Path) -> None:
    """``pymk serve``'s workers write the gauge to the shared files (livemax: a live process shows)."""
    spawn = multiprocessing.get_context("spawn")
    out = spawn.Queue()
    child = spawn.Process(
        target=_scrape_in_multiprocess_mode, args=(str(tmp_path), ["v0007-20261126T0300Z"], out)
    )
    child.start()
    text = out.get(timeout=60)
    child.join(60)
    assert child.exitcode == 0
    got = _samples(text)
    created = _key("pymk_model_created_timestamp_seconds", version="v0007-20261126T0300Z")
    assert got[created] == datetime(2026, 11, 26, 3, 0, tzinfo=UTC).timestamp()
    assert got[_key("pymk_model_version_info", version="v0007-20261126T0300Z", role="control")] == 1


def test_the_report_pymk_monitor_writes_is_read(tmp_path: Path) -> None:
    """The contract with ``pymk monitor``: its own writer's file (here with a shifted numeric feature and
    a p-value statistic, ks, on a small sample) comes out as the same verdict and statistics."""
    rng = np.random.default_rng(0)
    config = DriftConfig()
    drift = dataset_drift(
        [
            ("degree", rng.normal(10, 2, 5000), rng.normal(14, 2, 5000)),
            ("activity", rng.normal(3, 1, 200), rng.normal(3, 1, 200)),
        ],
        [("event_type", {"connect": 500, "message": 500}, {"connect": 480, "message": 520})],
        config,
    )
    window = Window(start=1.79e9, end=1.79e9 + 3600, seconds=3600.0, events=6000, active_users=900)
    written = WrittenReport("2026-11-27T11:30:05Z", "v0003-20261127T0300Z", window, window, drift, ("data",))
    write_report(load_settings(home=tmp_path), written)
    got = _drift_samples(tmp_path)
    assert got[_key("pymk_drift_report_valid")] == 1
    assert got[_key("pymk_drift_detected")] == float(drift.drifted)
    assert got[_key("pymk_drift_share_drifted")] == pytest.approx(drift.share_drifted)
    for f in drift.features:
        labels = {"feature": f.name, "kind": f.kind, "stat": f.stat}
        assert got[_key("pymk_drift_feature_value", **labels)] == pytest.approx(f.value)
        assert got[_key("pymk_drift_feature_drifted", feature=f.name)] == float(f.drifted)
    assert got[_key("pymk_drift_feature_drifted", feature="degree")] == 1
    assert {f.stat for f in drift.features} >= {"ks", "wasserstein"}
