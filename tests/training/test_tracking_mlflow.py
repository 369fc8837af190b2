"""The MLflow tracker against real stores: SQLite under a temporary home, and the running PostgreSQL.

Each test opens one fresh store, whose migrations take several seconds: keep these few.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pymk.training.tracking import MlflowTracker, Tracker, open_tracker, tracked_run

# MLflow's own use of SQLAlchemy 2.1 warns; nothing pymk can change.
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")


@pytest.fixture(autouse=True)
def _quiet_mlflow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    # Run from an empty directory so the test can show nothing is written to the working directory.
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")


def _train(tracker: Tracker, tmp_path: Path) -> str:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "model.txt").write_text("tree 0\n")
    (tmp_path / "report.json").write_text("{}")
    with tracked_run(tracker, "train-test", {"dataset": "CollegeMsg"}) as run_id:
        tracker.log_params({"num_leaves": 31, "features": ["cn", "aa"]})
        tracker.log_metrics({"loss": 0.9}, step=0)
        tracker.log_metrics({"loss": 0.4}, step=1)
        tracker.log_metrics({"recall@20": 0.21, "ndcg@20": 0.12})
        tracker.log_artifact(bundle)
        tracker.log_artifact(tmp_path / "report.json")
        tracker.log_dataset("ab" * 32)
    return run_id


def _check(tracker: MlflowTracker, run_id: str) -> None:
    """Read the run back through a fresh client, as another process would."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracker.tracking_uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "train-test"
    assert run.data.params == {"num_leaves": "31", "features": "['cn', 'aa']"}
    assert run.data.metrics == {"loss": 0.4, "recall_at_20": 0.21, "ndcg_at_20": 0.12}
    tags = {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}
    assert tags == {"dataset": "CollegeMsg", "pymk.dataset.train.sha256": "ab" * 32}
    assert sorted(a.path for a in client.list_artifacts(run_id)) == ["bundle", "report.json"]
    assert [a.path for a in client.list_artifacts(run_id, "bundle")] == ["bundle/model.txt"]
    history = client.get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 0.9), (1, 0.4)]


@pytest.mark.unit
@pytest.mark.slow
def test_mlflow_sqlite_under_home(tmp_path: Path) -> None:
    import mlflow.tracking._tracking_service.utils as mlflow_utils

    home = tmp_path / "home"
    tracker = open_tracker("sqlite:///mlflow.db", home)
    assert isinstance(tracker, MlflowTracker)
    run_id = _train(tracker, tmp_path)
    _check(tracker, run_id)
    assert (home / "mlflow.db").is_file()
    assert (home / "mlartifacts" / "pymk").is_dir()
    assert list(Path.cwd().iterdir()) == []
    assert not mlflow_utils.is_tracking_uri_set()  # the tracker never sets MLflow's global URI


@pytest.mark.integration
def test_mlflow_postgresql(postgres_dsn: str, tmp_path: Path) -> None:
    tracker = open_tracker(postgres_dsn, tmp_path / "home")
    assert isinstance(tracker, MlflowTracker)
    assert tracker.tracking_uri.startswith("postgresql+psycopg://")
    run_id = _train(tracker, tmp_path)
    _check(tracker, run_id)
    # A second tracker on the same store finds the experiment instead of creating it again.
    again = open_tracker(postgres_dsn, tmp_path / "home")
    with tracked_run(again, "second"):
        again.log_metrics({"recall@20": 0.3})
    assert isinstance(again, MlflowTracker)
    experiment = again.client.get_experiment_by_name("pymk")
    assert experiment is not None
    assert len(again.client.search_runs([experiment.experiment_id])) == 2
