"""The runner's §4 JSON shape, batching, the model registry, and CollegeMsg's published counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest

from _data import eval_data_dir  # benchmarks/_data.py, on pytest's pythonpath
from pymk.errors import InvalidInput
from pymk.evaluation.baselines import CommonNeighbours, Popularity
from pymk.evaluation.protocol import Split, load_interactions, split_interactions
from pymk.evaluation.registry import BASELINES, default_registry
from pymk.evaluation.report import results_table, write_json
from pymk.evaluation.runner import batch_size, evaluate
from pymk.io.formats import Format

pytestmark = pytest.mark.unit

COLLEGE_MSG = eval_data_dir() / "CollegeMsg" / "CollegeMsg.txt"


def test_result_has_exactly_the_design_shape(handmade: Split, tmp_path: Path) -> None:
    result = evaluate(handmade, {"cn": CommonNeighbours(), "popularity": Popularity()}, [20, 10])
    assert list(result) == ["dataset", "protocol", "models"]
    assert result["dataset"] == {"users": 7, "train_pairs": 7, "query_users": 5, "truth_pairs": 6}
    assert result["protocol"] == {"test_fraction": 0.2, "seed": 0}
    assert list(result["models"]) == ["cn", "popularity"]
    for metrics in result["models"].values():
        assert list(metrics) == [
            "recall@20",
            "ndcg@20",
            "recall@10",
            "ndcg@10",
            "fit_seconds",
            "score_seconds",
        ]
        assert all(isinstance(v, float) and 0.0 <= v for v in metrics.values())
        assert metrics["recall@20"] <= 1.0 and metrics["ndcg@20"] <= 1.0
    write_json(result, tmp_path / "out" / "r.json")
    assert orjson.loads((tmp_path / "out" / "r.json").read_bytes()) == result
    assert results_table(result).row_count == 2


def test_results_do_not_depend_on_the_batch_size(random_split: Split) -> None:
    models = list(BASELINES)
    registry = default_registry()
    whole = evaluate(random_split, registry.create_all(models), [5, 10])
    tiny = evaluate(random_split, registry.create_all(models), [5, 10], batch_bytes=1)
    for name in models:
        for key in ("recall@5", "ndcg@5", "recall@10", "ndcg@10"):
            assert whole["models"][name][key] == pytest.approx(tiny["models"][name][key], abs=1e-12)


def test_progress_is_reported_per_batch(random_split: Split) -> None:
    seen: list[tuple[str, int, int]] = []
    evaluate(
        random_split,
        {"popularity": Popularity()},
        [5],
        batch_bytes=40 * 4 * random_split.n_users,
        progress=lambda *a: seen.append(a),
    )
    total = int(random_split.query_users.shape[0])
    assert seen[0] == ("popularity", 0, total) and seen[-1] == ("popularity", total, total)
    assert len(seen) == 1 + -(-total // 40)


def test_bad_inputs_are_user_errors(handmade: Split) -> None:
    with pytest.raises(InvalidInput):
        evaluate(handmade, {"popularity": Popularity()}, [0])
    empty = Split(**{**handmade.__dict__, "query_users": np.zeros(0, dtype=np.int32)})
    with pytest.raises(InvalidInput, match="no query users"):
        evaluate(empty, {"popularity": Popularity()}, [10])


def test_batch_size_bounds_the_score_block() -> None:
    assert batch_size(105_683, 7_040, 256 * 2**20) == 256 * 2**20 // (4 * 105_683)
    assert batch_size(10, 3) == 3 and batch_size(10**9, 5, 1) == 1


def test_registry_names_errors_and_planned_models() -> None:
    registry = default_registry()
    assert registry.names() == [*BASELINES, "pymk"]
    assert set(registry.create_all(["cn", "ppr", "cn"])) == {"cn", "ppr"}
    with pytest.raises(
        InvalidInput, match=r"unknown model 'nope'; available: popularity, recent, cn, aa, ra, ppr, pymk"
    ):
        registry.create("nope")
    registry.plan("later", "a model announced before it lands")
    with pytest.raises(InvalidInput, match="'later' .* not available yet"):
        registry.create_all(["cn", "later"])
    registry.register("later", Popularity)
    assert isinstance(registry.create("later"), Popularity)


@pytest.mark.skipif(not COLLEGE_MSG.exists(), reason="shared eval-data not present")
def test_college_msg_counts_match_design() -> None:
    split = split_interactions(load_interactions(COLLEGE_MSG, Format.SNAP_TEMPORAL))
    result = evaluate(split, {}, [10])
    assert result["dataset"] == {"users": 1677, "train_pairs": 11612, "query_users": 653, "truth_pairs": 2732}
