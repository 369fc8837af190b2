"""``pymk train`` end to end: a simulated network imported, trained, tracked, registered, gated."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from _tiny import TINY_PIPELINE as TINY
from pymk.cli import app
from pymk.config import load_settings
from pymk.io.importer import import_file
from pymk.models.bundle import load_bundle
from pymk.registry import FilesystemRegistry
from pymk.sim import SimConfig, simulate, write_jsonl
from pymk.training.homedata import NothingToTrain
from pymk.training.tracking import MemoryTracker
from pymk.training.train import train_home

pytestmark = [
    pytest.mark.e2e,
    # MLflow's own use of SQLAlchemy 2.1 warns; nothing pymk can change.
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated"),
]


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated network of 300 users over 60 days, as events-jsonl."""
    path = tmp_path_factory.mktemp("sim") / "events.jsonl"
    write_jsonl(simulate(SimConfig(users=300, days=60, seed=0)), path)
    return path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("PYMK_CONFIG", "PYMK_GATE_METRIC", "PYMK_GATE_TOLERANCE", "PYMK_TRACKING_URL", "PYMK_SEED"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    (tmp_path / "tiny.json").write_text(json.dumps(TINY))
    return tmp_path / "home"


def train(home: Path, *args: str) -> Result:
    tiny = str(home.parent / "tiny.json")
    return CliRunner().invoke(app, ["train", "--home", str(home), "--pipeline-config", tiny, *args])


def noise_file(path: Path, rows: int = 4000) -> Path:
    """Random pairs among 300 strangers, after the simulated span: nothing a model can predict."""
    rng = np.random.default_rng(1)
    pairs = rng.integers(0, 300, (rows, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    start = SimConfig(users=300, days=60).end_ts + 86_400
    path.write_text("".join(f"n{a} n{b} {start + i * 60}\n" for i, (a, b) in enumerate(pairs)))
    return path


def test_train_registers_tracks_and_gates(home: Path, events: Path, tmp_path: Path) -> None:
    settings = load_settings(home=home)
    import_file(events, "events-jsonl", settings)

    result = train(home, "--json", str(tmp_path / "out.json"))
    assert result.exit_code == 0, result.output
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["promoted"] and out["gate"] is None and out["holdout"]["query_users"] > 0
    for key in ("recall@10", "recall@20", "recall@50", "ndcg@20"):
        assert 0.0 < out["metrics"][key] <= 1.0, key
    assert out["version"] in result.stdout and "holdout recall@20" in result.stdout

    registry = FilesystemRegistry(home / "models")
    (first,) = registry.list()
    active = registry.active()
    assert active is not None and active.version == first.version == out["version"]
    m = first.manifest
    assert m.metrics == out["metrics"] and m.mlflow_run_id == out["run_id"]
    assert m.data_fingerprint == out["data_fingerprint"] and m.code.commit
    assert m.feature_config["pair_features"] and "bundle.json" in m.files

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    run = client.get_run(out["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.metrics["recall_at_20"] == pytest.approx(out["metrics"]["recall@20"])
    assert run.data.tags["pymk.dataset.home.sha256"] == out["data_fingerprint"]
    assert run.data.params["model_version"] == out["version"]
    assert "bundle" in {a.path for a in client.list_artifacts(out["run_id"])}

    # The registered bundle is self-contained: it loads and scores every imported user.
    bundle = load_bundle(first.path)
    assert bundle.user_ids is not None and len(bundle.user_ids) == out["users"]
    scores = bundle.pipeline.score(np.arange(3, dtype=np.int32))
    assert scores.shape == (3, out["users"]) and np.isfinite(scores).all()

    # Worse data: the latest fifth is noise among strangers. Registered, measured, refused by the gate.
    import_file(noise_file(tmp_path / "noise.txt"), "snap-temporal", settings)
    worse = train(home, "--json", str(tmp_path / "worse.json"))
    assert worse.exit_code == 0, worse.output
    out2 = json.loads((tmp_path / "worse.json").read_text())
    assert not out2["promoted"] and "worse than active" in out2["gate"]
    assert out2["metrics"]["recall@20"] < out["metrics"]["recall@20"]
    assert out2["data_fingerprint"] != out["data_fingerprint"]
    assert [v.version for v in registry.list()] == [out["version"], out2["version"]]
    assert registry.active() == first and "worse than active" in worse.output


def test_no_promote_and_the_tracked_run(home: Path, events: Path) -> None:
    settings = load_settings(home=home)
    import_file(events, "events-jsonl", settings)
    tracker = MemoryTracker()
    from pymk.models.bundle import config_from_dict

    config = config_from_dict(TINY)
    result = train_home(settings, config=config, promote=False, tracker=tracker)
    registry = FilesystemRegistry(home / "models")
    assert not result.promoted and registry.active() is None
    assert [v.version for v in registry.list()] == [result.version]
    run = tracker.runs[result.run_id]
    assert run.status == "FINISHED" and run.datasets == {"home": result.data_fingerprint}
    assert run.params["pipeline.ranker.max_rounds"] == "15" and run.params["holdout_fraction"] == "0.2"
    assert {"recall@20", "ndcg@20"} <= {k for k, _, _ in run.metrics} and run.artifacts == ["bundle"]
    again = train_home(settings, config=config, promote=False, tracker=tracker)
    assert again.data_fingerprint == result.data_fingerprint and again.metrics == result.metrics


def test_an_empty_home_is_one_clear_error(home: Path) -> None:
    result = train(home)
    assert result.exit_code == 2
    assert "error: no interactions imported under" in result.output and "pymk import" in result.output
    assert "Traceback" not in result.output


def test_too_little_data_fails_the_run(home: Path, tmp_path: Path) -> None:
    settings = load_settings(home=home)
    (tmp_path / "few.txt").write_text("1 2 100\n2 3 200\n3 4 300\n")
    import_file(tmp_path / "few.txt", "snap-temporal", settings)
    tracker = MemoryTracker()
    with pytest.raises(NothingToTrain, match="too little data"):
        train_home(settings, tracker=tracker)
    (run,) = tracker.runs.values()
    assert run.status == "FAILED" and not FilesystemRegistry(home / "models").list()
