"""``pymk import`` and ``pymk deadletter`` end to end through the Typer app."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from pymk.cli import app

pytestmark = pytest.mark.e2e
WriteFile = Callable[..., Path]


@pytest.fixture
def run(tmp_path: Path) -> Callable[..., Result]:
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, [*args, "--home", str(tmp_path / "home")], env={"PYMK_CONFIG": None})

    return invoke


def test_import_prints_a_summary(run: Callable[..., Result], write_file: WriteFile, tmp_path: Path) -> None:
    path = write_file("t.txt", "1 2 100", "2 3 200", "3 3 300")
    result = run("import", str(path), "--format", "snap-temporal", "--json", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output
    for text in ("rows read", "applied", "duplicates skipped", "self_edge", "users", "connections", "rows/s"):
        assert text in result.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["applied"], report["rejected"], report["users"]) == (2, {"self_edge": 1}, 3)
    again = run("import", str(path), "-f", "snap-temporal", "--json", str(tmp_path / "r.json"))
    assert again.exit_code == 0
    assert json.loads((tmp_path / "r.json").read_text())["duplicates"] == 2


def test_malformed_line_stops_with_exit_2(run: Callable[..., Result], write_file: WriteFile) -> None:
    path = write_file("data.txt", *["1 2 100"] * 16, "1 2")
    result = run("import", str(path), "--format", "snap-temporal")
    assert result.exit_code == 2
    expected = (
        f"error: {path}:17: expected 3 fields (whitespace-separated 'src dst unix_ts'), got 2 [bad_line]"
    )
    assert expected in result.stderr
    assert "Traceback" not in result.output


def test_skip_goes_on_and_deadletter_lists_the_rejects(
    run: Callable[..., Result], write_file: WriteFile
) -> None:
    path = write_file("data.txt", "1 2 100", "1 2", "4 4 100", "[/x] 1 y")
    result = run("import", str(path), "--format", "snap-temporal", "--on-error", "skip")
    assert result.exit_code == 0, result.output
    listing = run("deadletter")
    assert listing.exit_code == 0, listing.output
    out = listing.stdout
    assert "bad_line" in out and "self_edge" in out and "total" in out
    assert "data.txt:2" in out and "[/x] 1 y" in out
    only = run("deadletter", "--reason", "self_edge")
    assert "4 4 100" in only.stdout and "1 2" not in only.stdout.split("most recent")[-1]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["import", "missing.txt", "--format", "snap-temporal"], 2, "no such file"),
        (["import", ".", "--format", "snap-temporal"], 2, "is a directory"),
        (["import", "{file}", "--format", "nope"], 2, "nope"),
        (["import", "{file}"], 2, "--format"),
        (["import", "{file}", "--format", "snap-temporal", "--on-error", "later"], 2, "later"),
    ],
)
def test_usage_errors(
    run: Callable[..., Result], write_file: WriteFile, args: list[str], code: int, message: str
) -> None:
    path = write_file("t.txt", "1 2 100")
    result = run(*(a.replace("{file}", str(path)) for a in args))
    assert result.exit_code == code
    assert message in result.output
    assert "Traceback" not in result.output


def test_deadletter_on_an_empty_home(run: Callable[..., Result]) -> None:
    result = run("deadletter")
    assert result.exit_code == 0
    assert "no dead letters" in result.stdout
