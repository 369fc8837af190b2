"""``pymk evaluate --replay`` end to end through Typer's CliRunner."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from pymk.cli import app
from pymk.evaluation.replay_report import replay_text

pytestmark = pytest.mark.e2e


def test_replay_prints_the_table_and_writes_json_with_costs(handmade_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "replay.json"
    args = [
        "evaluate",
        str(handmade_file),
        "--format",
        "snap-temporal",
        "--replay",
        "--refresh",
        "0,20s,never",
    ]
    result = CliRunner().invoke(app, [*args, "--k", "1,3", "--models", "active7d,cn", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "hit@3" in result.output and "active7d" in result.output and "coverage" in result.output
    res = orjson.loads(out.read_bytes())
    assert list(res["policies"]) == ["0", "20s", "never"]
    never = res["policies"]["never"]["cn"]
    assert never["queries"] == 6  # the §4 truth_pairs of the hand-made file
    assert never["cpu_seconds_per_day"] == 0.0 and never["refreshes_per_day"] == 0.0
    assert res["policies"]["20s"]["cn"]["refreshes_per_day"] == pytest.approx(4320.0)
    assert set(res["costs"]["models"]["cn"]) == {"precompute_seconds", "request_seconds", "update_seconds"}
    assert replay_text(res).count("\n") == 2 + 3 * 2


def test_replay_rejects_a_bad_policy_and_an_unknown_model(handmade_file: Path) -> None:
    base = ["evaluate", str(handmade_file), "--format", "snap-temporal", "--replay"]
    bad = CliRunner().invoke(app, [*base, "--refresh", "soon"])
    assert bad.exit_code != 0 and "--refresh" in bad.output
    unknown = CliRunner().invoke(app, [*base, "--models", "magic"])
    assert unknown.exit_code != 0 and "magic" in unknown.output
