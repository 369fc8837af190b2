"""``pymk batch --engine ray`` on a local Ray instance writes exactly the single-process run's lists."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from _tiny import TINY_PIPELINE as TINY
from pymk.cli import app
from pymk.config import load_settings
from pymk.io.importer import import_file
from pymk.models.bundle import USERS_FILE, config_from_dict
from pymk.registry import FilesystemRegistry
from pymk.serving.batch import run_batch
from pymk.sim import SimConfig, simulate, write_jsonl
from pymk.stores import list_store
from pymk.training.tracking import MemoryTracker
from pymk.training.train import train_home

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ray = pytest.importorskip("ray")


def test_ray_batch_equals_the_single_process_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PYMK_CONFIG", "PYMK_GATE_METRIC", "PYMK_GATE_TOLERANCE", "PYMK_SEED", "PYMK_LISTS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RAY_DISABLE_USAGE_STATS", "1")
    events = tmp_path / "events.jsonl"
    write_jsonl(simulate(SimConfig(users=300, days=60, seed=0)), events)
    home = tmp_path / "home"
    settings = load_settings(home=home)
    import_file(events, "events-jsonl", settings)
    train_home(settings, config=config_from_dict(TINY), tracker=MemoryTracker())

    local = load_settings(home=home, lists_url="mmap:///lists-local")
    distributed = load_settings(home=home, lists_url="mmap:///lists-ray")
    one = run_batch(local, k=20, workers=1, chunk=64)
    # `pymk batch --engine ray`: starts a local Ray for the run, two actors share the loaded model.
    monkeypatch.setenv("PYMK_LISTS_URL", "mmap:///lists-ray")
    args = ["batch", "--home", str(home), "--engine", "ray", "--workers", "2", "--chunk", "64", "--k", "20"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "precomputed" in result.output and not ray.is_initialized()

    stores = list_store(local), list_store(distributed)
    try:
        info = stores[1].info()
        assert info is not None and (info.model_version, info.k, info.users) == (
            one.info.model_version,
            20,
            one.info.users,
        )
        ids = _external_ids(home)
        a, b = (s.get_many(ids, 20) for s in stores)
        assert sum(x is not None for x in a) == one.info.users
        for x, y in zip(a, b, strict=True):
            assert (x is None) == (y is None)
            if x is not None and y is not None:
                assert x.items_json == y.items_json
                np.testing.assert_array_equal(x.items, y.items)
                np.testing.assert_array_equal(x.scores, y.scores)
    finally:
        for s in stores:
            s.close()


def _external_ids(home: Path) -> list[str]:
    """Every user id of the active version's bundle (deleted or not)."""
    active = FilesystemRegistry(home / "models").active()
    assert active is not None
    return [str(u) for u in json.loads((active.path / USERS_FILE).read_text())]
