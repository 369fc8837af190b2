"""Compiled rankers (lleaves): the same scores as LightGBM, cached per host in the bundle, and a clean
fallback to LightGBM wherever the compiled code cannot be used."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from pipeline_helpers import community_rows, fit

from pymk.features.rows import Rows
from pymk.models import compiled
from pymk.models.bundle import load_bundle, save_bundle
from pymk.models.pipeline import PymkPipeline

pytestmark = pytest.mark.unit
USERS = np.arange(0, 120, 3, dtype=np.int32)


@pytest.fixture(scope="module")
def fitted() -> tuple[Rows, PymkPipeline]:
    rows = community_rows(0)
    pipe = fit(rows)
    assert pipe.fitted_ranker
    return rows, pipe


@pytest.fixture(scope="module")
def bundle(fitted: tuple[Rows, PymkPipeline], tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows, pipe = fitted
    directory = tmp_path_factory.mktemp("compiled") / "b"
    save_bundle(pipe, directory, rows=rows, compile=True)
    for ranker in pipe.rankers:  # saving compiled the pipeline itself too: back to LightGBM
        ranker.compiled = None
    return directory


def test_compiled_predictions_equal_lightgbm(fitted: tuple[Rows, PymkPipeline]) -> None:
    _, pipe = fitted
    pb = pipe.pairs(USERS)
    ranker = pipe.rankers[0]
    ranker.compiled = None
    expected = ranker.predict(pb.features)
    assert ranker.compile()
    try:
        got = ranker.predict(pb.features)
    finally:
        ranker.compiled = None
    assert got.shape == expected.shape and len(np.unique(expected)) > 10
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def test_bundle_caches_this_hosts_code_and_loads_it(bundle: Path, fitted: tuple[Rows, PymkPipeline]) -> None:
    _, pipe = fitted
    cache = compiled.cache_dir(bundle)
    objects = sorted(p.name for p in cache.glob("*.o"))
    boosters = sum(len(r.boosters) for r in pipe.rankers)
    assert len(objects) == boosters and not list(cache.glob(".*tmp"))
    loaded = load_bundle(bundle)
    assert all(r.compiled is not None for r in loaded.pipeline.rankers)
    np.testing.assert_allclose(loaded.pipeline.score(USERS), pipe.score(USERS), rtol=0, atol=1e-5)
    top = np.argsort(-loaded.pipeline.score(USERS), axis=1, kind="stable")[:, :20]
    assert np.array_equal(top, np.argsort(-pipe.score(USERS), axis=1, kind="stable")[:, :20])


def test_another_kind_of_cpu_falls_back_to_lightgbm(bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiled, "host_key", lambda: "0123456789abcdef")
    loaded = load_bundle(bundle)  # nothing cached for this "host": LightGBM, and nothing compiled on load
    assert all(r.compiled is None for r in loaded.pipeline.rankers)
    assert not (bundle / compiled.COMPILED_DIR / "0123456789abcdef").exists()


def test_without_lleaves_saving_still_works(
    fitted: tuple[Rows, PymkPipeline], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows, pipe = fitted
    monkeypatch.setattr(compiled, "available", lambda: False)
    save_bundle(pipe, tmp_path / "b", rows=rows, compile=True)
    assert not (tmp_path / "b" / compiled.COMPILED_DIR).exists()
    assert all(r.compiled is None for r in load_bundle(tmp_path / "b").pipeline.rankers)


def test_refitting_drops_the_compiled_code(fitted: tuple[Rows, PymkPipeline]) -> None:
    rows, _ = fitted
    pipe = fit(rows)
    assert pipe.rankers[0].compile()
    pipe.fit(rows)
    assert all(r.compiled is None for r in pipe.rankers)


def test_a_pickled_copy_reloads_the_cached_code(bundle: Path, tmp_path: Path) -> None:
    # Ray ships the loaded model to its actors by pickling: native code cannot travel, cache files can.
    loaded = load_bundle(bundle)
    copy = pickle.loads(pickle.dumps(loaded.pipeline))
    assert all(r.compiled is not None for r in copy.rankers)
    np.testing.assert_array_equal(copy.score(USERS), loaded.pipeline.score(USERS))
    in_memory = loaded.pipeline.rankers[0]
    assert in_memory.compile()  # compiled without cache files: the copy falls back to LightGBM
    assert pickle.loads(pickle.dumps(in_memory)).compiled is None
