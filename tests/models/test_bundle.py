"""Model bundles: save a fitted pipeline, load it elsewhere, score exactly as before; clear errors."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest
from pipeline_helpers import FAST, TINY, community_rows, fit

from pymk.errors import BundleError, PymkError
from pymk.features.rows import Rows
from pymk.models.bundle import (
    BUNDLE_FILE,
    FORMAT_VERSION,
    config_from_dict,
    config_to_dict,
    load_bundle,
    read_bundle_info,
    save_bundle,
)
from pymk.models.pipeline import PipelineConfig, PymkPipeline

pytestmark = pytest.mark.unit
USERS = np.arange(0, 120, 3, dtype=np.int32)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Rows, np.ndarray, Path]:
    """Rows, the scores of ``USERS`` before saving, and the bundle directory; the pipeline is gone."""
    rows = community_rows(0)
    pipe = fit(rows)
    assert pipe.fitted_ranker and len(pipe.rankers) >= 1
    before = pipe.score(USERS)
    directory = tmp_path_factory.mktemp("bundle") / "b"
    ids = [f"u{i}" for i in range(rows.n_users)]
    save_bundle(pipe, directory, rows=rows, user_ids=ids)
    del pipe
    return rows, before, directory


@dataclass(frozen=True)
class Inner:
    rate: float = 0.1
    names: tuple[str, ...] = ("a",)


@dataclass(frozen=True)
class Outer:
    inner: Inner = field(default_factory=Inner)
    maybe: Inner | None = None
    pair: tuple[float, float] = (0.5, 0.8)
    n: int = 3


def test_configs_round_trip_through_json() -> None:
    for config in (TINY, FAST, PipelineConfig(), replace(TINY, seed=7)):
        assert config_from_dict(json.loads(json.dumps(config_to_dict(config)))) == config
    odd = Outer(Inner(0.2, ("x", "y")), maybe=Inner(0.3), pair=(0.1, 0.2), n=4)
    assert config_from_dict(json.loads(json.dumps(config_to_dict(odd))), Outer) == odd
    assert config_from_dict({"inner": {"rate": 0.7}}, Outer) == Outer(inner=Inner(rate=0.7))  # overrides
    with pytest.raises(BundleError, match=r"config\.inner: unknown field\(s\) nope"):
        config_from_dict({"inner": {"nope": 1}}, Outer)
    with pytest.raises(BundleError, match=r"config\.pair: expected 2 items, got 1"):
        config_from_dict({"pair": [1.0]}, Outer)


def test_loaded_bundle_scores_exactly_like_the_saved_pipeline(
    saved: tuple[Rows, np.ndarray, Path],
) -> None:
    rows, before, directory = saved
    bundle = load_bundle(directory)  # rows from the bundle itself
    np.testing.assert_array_equal(bundle.pipeline.score(USERS), before)
    assert bundle.user_ids is not None and bundle.user_ids[5] == "u5"
    assert bundle.pipeline.config == TINY and bundle.pipeline.fitted_ranker
    given = load_bundle(directory, rows)  # rows passed by the caller
    np.testing.assert_array_equal(given.pipeline.score(USERS), before)


def test_rows_other_than_the_fitted_ones_are_refused(saved: tuple[Rows, np.ndarray, Path]) -> None:
    rows, _, directory = saved
    swapped = Rows(rows.dst, rows.src, rows.ts, rows.n_users)
    with pytest.raises(BundleError, match="not those"):
        load_bundle(directory, swapped)
    shorter = Rows(rows.src[:-5], rows.dst[:-5], rows.ts[:-5], rows.n_users)
    with pytest.raises(BundleError, match="not those"):
        load_bundle(directory, shorter)


def test_missing_corrupt_and_future_bundles_fail_clearly(
    saved: tuple[Rows, np.ndarray, Path], tmp_path: Path
) -> None:
    _, _, directory = saved
    with pytest.raises(BundleError, match="no model bundle at .*not a directory"):
        load_bundle(tmp_path / "absent")
    copy = tmp_path / "copy"
    shutil.copytree(directory, copy)
    (copy / "ranker-0.json").write_text("{not json")
    with pytest.raises(BundleError, match="cannot read .*ranker-0.json"):
        load_bundle(copy)
    (copy / "ranker-0.json").unlink()
    with pytest.raises(BundleError, match="ranker-0.json is missing"):
        load_bundle(copy)
    info = read_bundle_info(directory)
    (copy / BUNDLE_FILE).write_text(json.dumps({**info, "format_version": 99}))
    with pytest.raises(BundleError, match=f"format_version 99; this pymk reads {FORMAT_VERSION}"):
        load_bundle(copy)
    (copy / BUNDLE_FILE).write_text(json.dumps({**info, "feature_names": [["a"]] * len(info["rankers"])}))
    with pytest.raises(BundleError, match="other features"):
        load_bundle(copy)
    (copy / BUNDLE_FILE).write_text("")
    with pytest.raises(PymkError, match="corrupt model bundle"):
        load_bundle(copy)
    (copy / BUNDLE_FILE).unlink()
    with pytest.raises(BundleError, match="bundle.json is missing"):
        load_bundle(copy)


def test_an_unfitted_or_rowless_pipeline(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="never fitted"):
        save_bundle(PymkPipeline(TINY), tmp_path / "x")
    rows = Rows(np.array([0, 1], np.int32), np.array([1, 2], np.int32), np.array([1.0, 2.0]), 3)
    pipe = fit(rows, FAST)
    assert not pipe.fitted_ranker
    save_bundle(pipe, tmp_path / "y")  # no rows stored: the caller must give them
    with pytest.raises(BundleError, match="holds no rows"):
        load_bundle(tmp_path / "y")
    loaded = load_bundle(tmp_path / "y", rows).pipeline
    users = np.array([0, 1], np.int32)
    np.testing.assert_array_equal(loaded.score(users), pipe.score(users))


def test_a_bundle_from_before_the_activity_monotone_rankers_loads_as_it_was_trained(tmp_path: Path) -> None:
    rows = community_rows(1)
    pipe = fit(rows, replace(FAST, monotone_activity=False))
    before = pipe.score(USERS)
    save_bundle(pipe, tmp_path / "old", rows=rows)
    info_path = tmp_path / "old" / BUNDLE_FILE
    info = json.loads(info_path.read_text())
    del info["config"]["monotone_activity"]  # written by a pymk that had no such field
    info_path.write_text(json.dumps(info))
    loaded = load_bundle(tmp_path / "old")
    assert not loaded.pipeline.config.monotone_activity and len(loaded.pipeline.rankers) == len(pipe.rankers)
    np.testing.assert_array_equal(loaded.pipeline.score(USERS), before)
