"""``pymk evaluate --report``: a self-contained HTML page with recall@k curves per model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pymk.cli import app
from pymk.evaluation.report import write_html_report

pytestmark = pytest.mark.e2e


def test_evaluate_writes_the_html_report(handmade_file: Path, tmp_path: Path) -> None:
    report = tmp_path / "out" / "report.html"
    args = ["evaluate", str(handmade_file), "--format", "snap-temporal", "--k", "1,2,3"]
    result = CliRunner().invoke(app, [*args, "--models", "popularity,cn", "--report", str(report)])
    assert result.exit_code == 0, result.output
    page = report.read_text()
    assert not re.search(r"https?://", page) and "<script" not in page and "<link" not in page
    # recall@k and ndcg@k: one inline SVG each, both naming every model in their legend.
    assert page.count("<svg") == 2
    for model in ("popularity", "cn"):
        assert page.count(f">{model}<") >= 3  # two legends and the metrics table
    assert "recall@3" in page and "ndcg@1" in page


def test_report_with_recall_only(tmp_path: Path) -> None:
    result = {
        "dataset": {"users": 3, "train_pairs": 2, "query_users": 1, "truth_pairs": 1},
        "protocol": {"test_fraction": 0.2, "seed": 0},
        "models": {
            "model-a": {"recall@10": 0.1, "recall@20": 0.3, "fit_seconds": 0.0, "score_seconds": 0.0},
            "model-b": {"recall@10": 0.2, "recall@20": 0.25, "fit_seconds": 0.0, "score_seconds": 0.0},
        },
    }
    page = write_html_report(result, tmp_path / "r.html").read_text()
    assert page.count("<svg") == 1 and "model-a" in page and "model-b" in page and "0.2500" in page


def test_report_refused_with_replay(handmade_file: Path, tmp_path: Path) -> None:
    args = ["evaluate", str(handmade_file), "--format", "snap-temporal", "--replay"]
    result = CliRunner().invoke(app, [*args, "--report", str(tmp_path / "r.html")])
    assert result.exit_code == 2 and "--plot" in result.output
