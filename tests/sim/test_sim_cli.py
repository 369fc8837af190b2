"""``pymk simulate`` end to end through Typer's runner."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pymk.cli import app

pytestmark = pytest.mark.unit


def test_simulate_writes_jsonl_and_summarises(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    result = CliRunner().invoke(app, ["simulate", "--users", "300", "--avg-degree", "6", "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = out.read_bytes().splitlines()
    types = {orjson.loads(line)["type"] for line in lines}
    assert {"signup", "connect"} <= types
    assert "300 users" in result.output and "900 connections" in result.output


def test_simulate_parquet_by_flag(tmp_path: Path) -> None:
    out = tmp_path / "events.data"
    args = ["simulate", "-n", "200", "-m", "500", "--seed", "2", "--format", "parquet", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.num_rows > 700 and table.column_names[:2] == ["event_id", "ts"]


@pytest.mark.parametrize(
    "args",
    [
        ["--users", "100", "--out", "x.csv"],
        ["--users", "100", "--connections", "10", "--avg-degree", "3", "--out", "x.jsonl"],
        ["--users", "10", "--connections", "1000", "--out", "x.jsonl"],
        ["--users", "100", "--format", "xml", "--out", "x.jsonl"],
    ],
)
def test_simulate_refuses_bad_input_without_traceback(args: list[str], tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["simulate", *args])
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and "Traceback" not in result.output


def test_help_explains_the_command() -> None:
    result = CliRunner().invoke(app, ["simulate", "--help"])
    assert result.exit_code == 0
    assert "--connections" in result.output and "triadic closure" in result.output


def test_simulate_import_lands_in_the_store(tmp_path: Path) -> None:
    from pymk.graph import GraphStore

    out, home = tmp_path / "events.jsonl.gz", tmp_path / "home"
    args = ["simulate", "-n", "300", "--avg-degree", "6", "--out", str(out), "--import", "--home", str(home)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    graph = GraphStore.load(home / "graph")
    # Every connect makes an edge; a few blocks/disconnects/deletions remove some again.
    assert 800 <= graph.n_edges <= 1_000
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and GraphStore.load(home / "graph").n_edges == graph.n_edges


def test_simulate_import_needs_jsonl(tmp_path: Path) -> None:
    args = [
        "simulate",
        "-n",
        "100",
        "--out",
        str(tmp_path / "e.parquet"),
        "--import",
        "--home",
        str(tmp_path),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "--import" in result.output
