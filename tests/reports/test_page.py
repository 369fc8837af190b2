"""The page builder: one self-contained HTML document, figures as inline SVG, text escaped."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pymk.reports.figures import line_chart, threshold_bars, time_chart
from pymk.reports.page import Cell, Page

pytestmark = pytest.mark.unit


def test_page_is_self_contained(tmp_path: Path) -> None:
    page = Page("Report <1>", subtitle="sub & title")
    section = page.section("Curves")
    section.figure(
        line_chart({"model-alpha": ([1, 2, 3], [0.1, 0.2, 0.3])}, title="t", xlabel="k", ylabel="recall"),
        caption="a caption",
    )
    section.figure(
        time_chart({"beta": ([1.7e9, 1.7e9 + 3600], [1.0, 2.0])}, title="t", ylabel="y", threshold=1.5)
    )
    section.figure(
        threshold_bars(["f1", "f2"], [0.2, 0.05], [0.1, 0.1], [True, False], title="b", xlabel="x")
    )
    section.table(
        ["name", "value", "state"], [["<b>", 0.123456, Cell("drift", "bad")], ["n", float("nan"), None]]
    )
    page.section("Empty").paragraph("nothing yet", empty=True)
    path = page.write(tmp_path / "deep" / "r.html")
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert text.count("<svg") == 3 and text.count("</svg>") == 3
    assert not re.search(r"https?:", text), "a self-contained page references no URL"
    assert "<script" not in text and "<link" not in text
    assert "model-alpha" in text and "beta" in text  # text in plots stays text
    assert "Report &lt;1&gt;" in text and "&lt;b&gt;" in text and "sub &amp; title" in text
    assert "0.1235" in text and '<td class="bad">drift</td>' in text


def test_cell_class_is_checked() -> None:
    with pytest.raises(ValueError, match="unknown cell class"):
        Cell("x", "onclick")
