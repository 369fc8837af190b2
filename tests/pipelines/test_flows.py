"""The Prefect flows on a tiny simulated home, under Prefect's test harness (a temporary local API)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from _tiny import TINY_PIPELINE as TINY
from pymk.config import load_settings
from pymk.io.importer import import_file
from pymk.registry import FilesystemRegistry
from pymk.sim import SimConfig, simulate, write_jsonl
from pymk.stores import list_store

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated"),
]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home with 300 simulated users' 60 days imported; tracking in memory."""
    for name in ("PYMK_CONFIG", "PYMK_GATE_METRIC", "PYMK_GATE_TOLERANCE", "PYMK_SEED", "PYMK_LISTS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYMK_TRACKING_URL", "memory://")
    events = tmp_path / "events.jsonl"
    write_jsonl(simulate(SimConfig(users=300, days=60, seed=0)), events)
    home = tmp_path / "home"
    import_file(events, "events-jsonl", load_settings(home=home))
    return home


def test_retrain_then_skip_then_hourly_batch(harness: None, home: Path) -> None:
    from pymk.pipelines import batch_flow, retrain_flow

    outcome = retrain_flow(home=str(home), pipeline=TINY, k=20)
    assert outcome.promoted and outcome.gate is None and outcome.skipped is None
    assert outcome.version is not None and 0.0 < outcome.metrics["recall@20"] <= 1.0
    registry = FilesystemRegistry(home / "models")
    active = registry.active()
    assert active is not None and active.version == outcome.version
    assert active.manifest.data_fingerprint == outcome.data_fingerprint

    # The candidate's lists were written before the promote: the store holds that version's lists.
    store = list_store(load_settings(home=home))
    try:
        info = store.info()
        assert info is not None and info.model_version == outcome.version and info.k == 20
        assert info.users == outcome.lists > 0
    finally:
        store.close()

    # Nothing new since the active version: the retrain is skipped, nothing registered.
    again = retrain_flow(home=str(home), pipeline=TINY, k=20)
    assert again.skipped and not again.promoted and again.version is None
    assert [v.version for v in registry.list()] == [outcome.version]

    assert batch_flow(home=str(home), k=10, workers=1) == outcome.lists


def test_a_refused_candidate_stays_unpromoted(harness: None, home: Path, tmp_path: Path) -> None:
    from pymk.pipelines import retrain_flow

    first = retrain_flow(home=str(home), pipeline=TINY, k=10)
    # Worse data: the latest fifth is noise among strangers, as in tests/training/test_train.py.
    rng = np.random.default_rng(1)
    pairs = rng.integers(0, 300, (4000, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    start = SimConfig(users=300, days=60).end_ts + 86_400
    noise = tmp_path / "noise.txt"
    noise.write_text("".join(f"n{a} n{b} {start + i * 60}\n" for i, (a, b) in enumerate(pairs)))
    import_file(noise, "snap-temporal", load_settings(home=home))

    refused = retrain_flow(home=str(home), pipeline=TINY, k=10)
    assert not refused.promoted and refused.gate and "worse than active" in refused.gate
    registry = FilesystemRegistry(home / "models")
    assert [v.version for v in registry.list()] == [first.version, refused.version]
    active = registry.active()
    assert active is not None and active.version == first.version
    store = list_store(load_settings(home=home))
    try:  # the refused version's lists were never written
        info = store.info()
        assert info is not None and info.model_version == first.version
    finally:
        store.close()


def test_schedules_are_deployments_built_without_a_server() -> None:
    from pymk.pipelines.deployments import BATCH_CRON, DRIFT_CRON, RETRAIN_CRON, deployments

    built = {d.name: d for d in deployments("/data/pymk")}
    assert set(built) == {"pymk-retrain-daily", "pymk-batch-hourly", "pymk-drift-daily"}
    crons = {name: [s.schedule.cron for s in d.schedules] for name, d in built.items()}
    assert crons == {
        "pymk-retrain-daily": [RETRAIN_CRON],
        "pymk-batch-hourly": [BATCH_CRON],
        "pymk-drift-daily": [DRIFT_CRON],
    }
    assert DRIFT_CRON.split()[2:] == ["*", "*", "*"]  # daily
    assert all(d.parameters == {"home": "/data/pymk"} for d in built.values())


def test_demo_offers_the_retrain_flow() -> None:
    from typer.testing import CliRunner

    from pymk.cli import app

    result = CliRunner().invoke(app, ["demo", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "--retrain-flow" in result.output
