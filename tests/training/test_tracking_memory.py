"""The tracker contract on the in-memory tracker, and the URL/fingerprint helpers (no MLflow needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pymk.config import load_settings
from pymk.errors import ConfigError, ServiceUnavailable
from pymk.training.tracking import (
    MemoryTracker,
    MlflowTracker,
    TrackingError,
    fingerprint_files,
    metric_key,
    open_tracker,
    sqlalchemy_url,
    tracked_run,
    tracker_from_settings,
)

pytestmark = pytest.mark.unit


def test_memory_tracker_records_a_run(tmp_path: Path) -> None:
    tracker = MemoryTracker()
    artifact = tmp_path / "model.txt"
    artifact.write_text("x")
    with tracked_run(tracker, "train", {"dataset": "CollegeMsg"}) as run_id:
        tracker.log_params({"num_leaves": 31, "lr": 0.05})
        tracker.log_metrics({"loss": 0.9}, step=0)
        tracker.log_metrics({"loss": 0.5}, step=1)
        tracker.log_metrics({"recall@20": 0.2})
        tracker.log_artifact(artifact)
        tracker.log_artifact(tmp_path, name="bundle")
        tracker.log_dataset("ab" * 32)
    run = tracker.runs[run_id]
    assert (run.name, run.tags, run.status) == ("train", {"dataset": "CollegeMsg"}, "FINISHED")
    assert run.params == {"num_leaves": "31", "lr": "0.05"}
    assert run.metrics == [("loss", 0.9, 0), ("loss", 0.5, 1), ("recall@20", 0.2, 0)]
    assert run.artifacts == ["model.txt", "bundle"] and run.datasets == {"train": "ab" * 32}


def test_failed_body_marks_run_failed_and_reraises() -> None:
    tracker = MemoryTracker()
    with pytest.raises(RuntimeError), tracked_run(tracker, "train"):
        raise RuntimeError("boom")
    (run,) = tracker.runs.values()
    assert run.status == "FAILED"
    tracker.start_run("next")  # the failed run is closed


def test_out_of_order_use_is_refused(tmp_path: Path) -> None:
    tracker = MemoryTracker()
    with pytest.raises(TrackingError, match="no active tracking run"):
        tracker.log_metrics({"a": 1.0})
    tracker.start_run("one")
    with pytest.raises(TrackingError, match="still active"):
        tracker.start_run("two")
    with pytest.raises(FileNotFoundError):
        tracker.log_artifact(tmp_path / "missing")


def test_metric_keys_are_made_mlflow_safe() -> None:
    assert metric_key("recall@20") == "recall_at_20"
    assert metric_key("ndcg@20/val") == "ndcg_at_20/val"
    assert metric_key("a+b (x)") == "a_b _x_"


def test_fingerprint_covers_names_and_contents(tmp_path: Path) -> None:
    data = tmp_path / "split"
    data.mkdir()
    (data / "train.parquet").write_bytes(b"123")
    (data / "test.parquet").write_bytes(b"45")
    first = fingerprint_files([data])
    assert len(first) == 64 and first == fingerprint_files([data])
    (data / "test.parquet").write_bytes(b"46")
    assert fingerprint_files([data]) != first
    (data / "test.parquet").rename(data / "other.parquet")
    assert fingerprint_files([data]) != first


def test_tracking_urls(tmp_path: Path) -> None:
    assert sqlalchemy_url("sqlite:///mlflow.db", tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert sqlalchemy_url("sqlite:////abs/m.db", tmp_path) == "sqlite:////abs/m.db"
    dsn = "postgresql://u:secret@db:5432/mlflow?options=-csearch_path%3Ds"
    assert (
        sqlalchemy_url(dsn, tmp_path)
        == "postgresql+psycopg://u:secret@db:5432/mlflow?options=-csearch_path%3Ds"
    )
    assert sqlalchemy_url("postgres://db/x", tmp_path) == "postgresql+psycopg://db/x"
    assert sqlalchemy_url("postgresql+psycopg2://db/x", tmp_path) == "postgresql+psycopg2://db/x"
    with pytest.raises(ConfigError, match=r"unsupported tracking_url 'redis://u:\*\*\*@h'"):
        sqlalchemy_url("redis://u:pw@h", tmp_path)
    with pytest.raises(ConfigError, match="names no file"):
        sqlalchemy_url("sqlite:///", tmp_path)


def test_open_tracker_builds_lazily(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(open_tracker("memory://", tmp_path), MemoryTracker)
    tracker = open_tracker("sqlite:///t/mlflow.db", tmp_path, artifacts="arts", experiment="exp")
    assert isinstance(tracker, MlflowTracker)
    assert tracker.tracking_uri.endswith("/t/mlflow.db")
    assert (tracker.artifact_root, tracker.experiment) == (str(tmp_path / "arts"), "exp")
    assert not (tmp_path / "t").exists()  # nothing is touched before the first run
    monkeypatch.setenv("PYMK_TRACKING_URL", "memory://")
    assert isinstance(tracker_from_settings(load_settings(home=tmp_path)), MemoryTracker)


def test_a_tracking_server_url_is_used_as_is(tmp_path: Path) -> None:
    # The production shape (docker-compose.yml, deploy/k8s): an MLflow server with its artifact proxy.
    tracker = open_tracker("http://mlflow:5000", tmp_path, artifacts="mlflow-artifacts:/pymk")
    assert isinstance(tracker, MlflowTracker)
    assert (tracker.tracking_uri, tracker.artifact_root) == ("http://mlflow:5000", "mlflow-artifacts:/pymk")
    assert open_tracker("https://t.example", tmp_path).tracking_uri == "https://t.example"


def test_unreachable_postgresql_fails_fast(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    tracker = open_tracker("postgresql://postgres:pw@127.0.0.1:1/none", tmp_path)
    with pytest.raises(
        ServiceUnavailable, match=r"cannot reach tracking store postgresql\+psycopg://postgres:\*\*\*@"
    ):
        tracker.start_run("x")
