"""``pymk demo`` end to end at a small size: every stage runs and leaves its artifacts, and what it
serves, streams and reports is about the version it trained."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from _tiny import TINY_PIPELINE
from pymk.cli import app
from pymk.registry import FilesystemRegistry

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated"),
]
_ENV = ("PYMK_CONFIG", "PYMK_HOME", "PYMK_SEED", "PYMK_TRACKING_URL", "PYMK_LISTS_URL", "PYMK_EVENTS_URL")


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*_ENV, "PYMK_ONLINE_URL", "PYMK_DRIFT_WINDOW"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")


def _demo(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["demo", "--home", str(tmp_path / "home"), *args], env={"COLUMNS": "200"}
    )
    return result.exit_code, result.output


def test_the_whole_system_at_300_users(tmp_path: Path) -> None:
    pipeline = tmp_path / "tiny.json"
    pipeline.write_text(json.dumps(TINY_PIPELINE))
    code, text = _demo(
        tmp_path,
        *("--users", "300", "--serve-users", "200", "--models", "popularity,cn"),
        *("--pipeline-config", str(pipeline)),
    )
    assert code == 0, text
    home, demo = tmp_path / "home", tmp_path / "home" / "demo"
    for n, stage in enumerate(
        (
            "simulate",
            "import",
            "shape",
            "evaluate",
            "train",
            "batch",
            "serve",
            "stream",
            "feedback",
            "report",
        ),
        1,
    ):
        assert f"{n}/10 {stage}:" in text and f"{stage}: " in text
    for name in ("events.jsonl", "past.jsonl", "evaluation.json", "evaluation.html", "summary.json"):
        assert (demo / name).stat().st_size > 0, name
    summary = json.loads((demo / "summary.json").read_text())
    assert set(summary["seconds"]) == {
        "simulate",
        "import",
        "shape",
        "evaluate",
        "train",
        "batch",
        "serve",
        "stream",
        "feedback",
        "report",
    }

    # train: a tracked run (MLflow, SQLite under the home) and the registry's active version.
    version = summary["train"]["version"]
    active = FilesystemRegistry(home / "models").active()
    assert active is not None and active.version == version and summary["train"]["run_id"]
    assert (home / "mlflow.db").is_file() and (active.path / "profile.json").is_file()
    assert summary["batch"]["users"] > 0 and any((home / "lists").iterdir())

    # serve: the shown list came from the HTTP app and names the trained version.
    shown = summary["serve"]["shown"]
    assert shown["model_version"] == version and shown["request_id"] and shown["items"]
    assert shown["source"] in ("precomputed", "realtime") and all("reasons" in i for i in shown["items"])
    assert f"model {version}" in text and shown["request_id"] in text

    # stream: the live events went through the worker; the connect left both lists in measured time.
    stream = summary["stream"]
    assert stream["accepted"] == stream["events"] > 0
    a, b = stream["connect"]["actor"], stream["connect"]["target"]
    assert shown["user_id"] == a and b in [i["user_id"] for i in shown["items"]] and b in stream["gone"]
    assert 0 < stream["visible_ms"] < 5000 and f"visible in {stream['visible_ms']:.0f} ms" in text
    log_types = _log_types(home)
    assert {"impression", "click"} <= log_types and "connect" in log_types

    # feedback and report: the CTR of the trained version counts every served item once.
    monitor = json.loads((demo / "monitor.json").read_text())
    assert monitor["model_version"] == version and isinstance(monitor["drifted"], bool)
    (row,) = [r for r in monitor["ctr"]["versions"] if r["model_version"] == version]
    assert row["impressions"] == summary["serve"]["items_served"] > 0
    assert row["clicks"] == summary["feedback"]["click"]
    page = (demo / "monitor.html").read_text()
    assert version in page and "No CTR series given yet" not in page
    assert "<svg" in (demo / "evaluation.html").read_text()
    for path in ("monitor.html", "evaluation.html", "summary.json"):
        assert str(demo / path) in text.replace("\n", "")


def test_no_train_stops_after_the_evaluation(tmp_path: Path) -> None:
    code, text = _demo(tmp_path, "--users", "200", "--models", "popularity", "--no-train")
    assert code == 0, text
    stages = re.findall(r"^(\d+)/(\d+) ([a-z-]+):", text, flags=re.MULTILINE)
    assert stages == [
        ("1", "4", "simulate"),
        ("2", "4", "import"),
        ("3", "4", "shape"),
        ("4", "4", "evaluate"),
    ]
    assert not (tmp_path / "home" / "models").exists()
    assert (tmp_path / "home" / "demo" / "evaluation.html").is_file()


def test_help_explains_every_stage_and_a_bad_pipeline_config_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for word in ("simulate", "import", "evaluate", "train", "batch", "serve", "stream", "feedback", "report"):
        assert word in result.output
    for flag in ("--no-train", "--no-stream", "--retrain-flow", "--pipeline-config"):
        assert flag in result.output
    bad = tmp_path / "bad.json"
    bad.write_text('{"no_such_field": 1}')
    code, text = _demo(tmp_path, "--users", "200", "--pipeline-config", str(bad))
    assert code != 0 and "no_such_field" in text and "Traceback" not in text


def _log_types(home: Path) -> set[str]:
    import duckdb

    glob = str(home / "events" / "**" / "*.parquet")
    rows = duckdb.sql(
        f"SELECT DISTINCT type FROM read_parquet('{glob}', hive_partitioning = true)"
    ).fetchall()
    return {str(r[0]) for r in rows}
