"""``pymk models list / show / promote / rollback / history`` through Typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from registry_helpers import active_version, add
from typer.testing import CliRunner, Result

from pymk.cli import app
from pymk.registry import FilesystemRegistry

pytestmark = pytest.mark.unit


def models(home: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["models", *args, "--home", str(home)])


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("PYMK_GATE_METRIC", "PYMK_GATE_TOLERANCE", "PYMK_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_list_empty_then_with_active_marker(home: Path) -> None:
    result = models(home, "list")
    assert result.exit_code == 0 and "no model versions yet" in result.output

    registry = FilesystemRegistry(home / "models")
    v1, v2 = add(registry, 0.2).version, add(registry, 0.3).version
    registry.promote(v2)
    result = models(home, "list")
    assert result.exit_code == 0, result.output
    line_v2 = next(line for line in result.output.splitlines() if v2 in line)
    line_v1 = next(line for line in result.output.splitlines() if v1 in line)
    assert "*" in line_v2 and "*" not in line_v1
    assert "recall@20=0.3000" in line_v2 and "abababababab" in line_v2


def test_show_prints_manifest(home: Path) -> None:
    registry = FilesystemRegistry(home / "models")
    v1 = add(registry).version
    registry.promote(v1)
    result = CliRunner().invoke(app, ["models", "show", v1, "--home", str(home)])
    assert result.exit_code == 0, result.output
    assert "(active)" in result.output
    manifest = json.loads(result.stdout[result.stdout.index("{") :])
    assert manifest["version"] == v1 and manifest["metrics"]["recall@20"] == 0.2


def test_promote_gate_force_and_rollback(home: Path) -> None:
    registry = FilesystemRegistry(home / "models")
    good, worse = add(registry, 0.3).version, add(registry, 0.1).version

    result = models(home, "promote", good)
    assert result.exit_code == 0 and f"active: {good}" in result.output
    result = models(home, "promote", worse)
    assert result.exit_code == 1
    assert "error:" in result.output and "worse than active" in result.output
    assert "Traceback" not in result.output and active_version(registry) == good

    result = models(home, "promote", worse, "--force")
    assert result.exit_code == 0 and f"(was {good})" in result.output
    result = models(home, "rollback")
    assert result.exit_code == 0 and f"active: {good}" in result.output
    assert active_version(registry) == good

    result = models(home, "history")
    assert result.exit_code == 0 and "rollback" in result.output and "yes" in result.output


@pytest.mark.parametrize("args", [["show", "v0042-20261127T1130Z"], ["promote", "nope"]])
def test_unknown_version_is_one_clear_line(home: Path, args: list[str]) -> None:
    result = models(home, *args)
    assert result.exit_code != 0
    assert result.output.strip().count("\n") == 0, result.output
    assert "error: no model version" in result.output


def test_rollback_with_nothing_to_roll_back(home: Path) -> None:
    result = models(home, "rollback")
    assert result.exit_code == 1 and "nothing to roll back to" in result.output
