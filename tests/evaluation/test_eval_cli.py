"""``pymk evaluate`` end to end through Typer's CliRunner."""

from __future__ import annotations

import math
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from pymk.cli import app

pytestmark = pytest.mark.e2e

LG3 = 1 / math.log2(3)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["evaluate", *args])
    return result.exit_code, result.output


def test_evaluate_prints_a_table_and_writes_the_json(handmade_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    code, text = run(
        str(handmade_file),
        "--format",
        "snap-temporal",
        "--k",
        "2,1",
        "--models",
        "popularity,cn",
        "--json",
        str(out),
    )
    assert code == 0, text
    assert "recall@2" in text and "popularity" in text and "5 query users" in text
    result = orjson.loads(out.read_bytes())
    assert result["dataset"] == {"users": 7, "train_pairs": 7, "query_users": 5, "truth_pairs": 6}
    assert list(result["models"]["cn"])[:4] == ["recall@1", "ndcg@1", "recall@2", "ndcg@2"]
    assert result["models"]["cn"]["ndcg@2"] == pytest.approx(
        (1 + LG3) / 5, abs=1e-12
    )  # see test_eval_handmade


def test_every_baseline_runs_by_default(handmade_file: Path) -> None:
    code, text = run(str(handmade_file), "-f", "snap-temporal")
    assert code == 0, text
    for name in ("popularity", "recent", "cn", "aa", "ra", "ppr"):
        assert name in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "parquet"], "unknown format 'parquet'; use one of: snap-temporal, snap-static"),
        (
            ["--format", "snap-temporal", "--models", "cn,magic"],
            "unknown model 'magic'; available: popularity",
        ),
        (["--format", "snap-temporal", "--k", "10,x"], "--k must be comma-separated positive integers"),
        (["--format", "snap-temporal", "--test-fraction", "1.5"], "--test-fraction must be between 0 and 1"),
    ],
)
def test_user_errors_are_one_clear_line(handmade_file: Path, args: list[str], message: str) -> None:
    code, text = run(str(handmade_file), *args)
    assert code == 2
    assert message in " ".join(text.split())
    assert "Traceback" not in text


def test_missing_file_is_a_user_error(tmp_path: Path) -> None:
    code, text = run(str(tmp_path / "nope.txt"), "--format", "snap-temporal")
    assert code == 2 and "no such file" in text and "Traceback" not in text


def test_malformed_file_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("1 2 100\n1 3 later\n")
    code, text = run(str(bad), "--format", "snap-temporal")
    assert code == 2 and "bad.txt:2" in text and "Traceback" not in text


def test_help_lists_the_options() -> None:
    result = CliRunner().invoke(app, ["evaluate", "--help"])
    assert result.exit_code == 0
    for option in ("--format", "--k", "--models", "--json", "--test-fraction", "--seed"):
        assert option in result.output


def test_static_data_is_shuffled_with_the_seed(tmp_path: Path) -> None:
    static = tmp_path / "static.txt"
    static.write_text("".join(f"{i} {j}\n" for i in range(8) for j in range(i + 1, 8) if (i * j) % 3 != 1))
    results = []
    for seed in ("0", "0", "5"):
        out = tmp_path / f"r{seed}.json"
        code, text = run(
            str(static), "--format", "snap-static", "--seed", seed, "--k", "3", "--json", str(out)
        )
        assert code == 0, text
        results.append(orjson.loads(out.read_bytes()))
    assert results[0]["models"]["cn"]["recall@3"] == results[1]["models"]["cn"]["recall@3"]
    assert results[2]["protocol"] == {"test_fraction": 0.2, "seed": 5}
    # No time: recent falls back to counting every train row, which for unique pairs is the degree.
    assert {k: v for k, v in results[0]["models"]["recent"].items() if "@" in k} == {
        k: v for k, v in results[0]["models"]["popularity"].items() if "@" in k
    }


def test_default_models_are_the_baselines() -> None:
    from pymk.cli.evaluate import DEFAULT_MODELS
    from pymk.evaluation.registry import BASELINES

    assert DEFAULT_MODELS == ",".join(BASELINES)


def test_help_does_not_import_numerics() -> None:
    import subprocess
    import sys

    heavy = "('scipy', 'pyarrow', 'lightgbm', 'mlflow')"
    code = f"import sys, pymk.cli; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
