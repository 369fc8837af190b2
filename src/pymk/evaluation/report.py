"""Render an evaluation result (the §4 JSON object) as a Rich table, a JSON file or a self-contained HTML
page (:func:`write_html_report`: recall@k curves per model and the metrics table)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
from rich.table import Table

_METRIC = re.compile(r"^(recall|ndcg)@(\d+)$")


def metric_columns(result: Mapping[str, Any]) -> list[str]:
    """Metric keys of the result's models (``recall@k``, ``ndcg@k``), recall first, k ascending."""
    keys: set[str] = set()
    for metrics in result["models"].values():
        keys.update(key for key in metrics if _METRIC.match(key))

    def order(key: str) -> tuple[int, int]:
        match = _METRIC.match(key)
        assert match is not None
        return (0 if match.group(1) == "recall" else 1, int(match.group(2)))

    return sorted(keys, key=order)


def results_table(result: Mapping[str, Any], *, title: str | None = None) -> Table:
    """Models × recall@k / ndcg@k (4 decimals, best per column in bold) with fit/score seconds."""
    data = result["dataset"]
    caption = (
        f"{data['users']:,} users · {data['train_pairs']:,} train pairs · {data['query_users']:,} query users"
        f" · {data['truth_pairs']:,} truth pairs · test {result['protocol']['test_fraction']}"
        f" · seed {result['protocol']['seed']}"
    )
    table = Table(title=title, caption=caption, header_style="bold")
    table.add_column("model")
    columns = metric_columns(result)
    for key in columns:
        table.add_column(key, justify="right")
    table.add_column("fit s", justify="right")
    table.add_column("score s", justify="right")
    models: Mapping[str, Mapping[str, float]] = result["models"]
    best = {key: max((m.get(key, 0.0) for m in models.values()), default=0.0) for key in columns}
    for name, metrics in models.items():
        cells = [name]
        for key in columns:
            value = metrics.get(key)
            text = "—" if value is None else f"{value:.4f}"
            cells.append(
                f"[bold]{text}[/]" if value is not None and value == best[key] and value > 0 else text
            )
        cells.append(f"{metrics['fit_seconds']:.2f}")
        cells.append(f"{metrics['score_seconds']:.2f}")
        table.add_row(*cells)
    return table


def write_json(result: Mapping[str, Any], path: Path) -> None:
    """Write ``result`` as indented JSON (full float precision), creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")


def _ks(metrics: Mapping[str, Any], name: str) -> list[int]:
    """The cut-offs ``k`` for which ``metrics`` holds ``<name>@k``, ascending."""
    found = (_METRIC.match(key) for key in metrics)
    return sorted(int(m.group(2)) for m in found if m is not None and m.group(1) == name)


def write_html_report(result: Mapping[str, Any], path: Path, *, title: str = "pymk evaluate") -> Path:
    """Write ``result`` as one self-contained HTML page (:mod:`pymk.reports`) to ``path``.

    The page holds the data set summary, one recall@k curve per model (k on x, recall on y; an ndcg@k
    figure beside it when ndcg was measured) and the metrics table (every recall@k / ndcg@k, fit and
    score seconds). Returns ``path``.
    """
    from pymk.reports.figures import line_chart
    from pymk.reports.page import Page

    models: Mapping[str, Mapping[str, float]] = result["models"]
    data = result["dataset"]
    protocol = result.get("protocol", {})
    page = Page(
        title,
        subtitle=f"{data['users']:,} users · {data['train_pairs']:,} train pairs · "
        f"{data['query_users']:,} query users · {data['truth_pairs']:,} truth pairs · "
        f"test {protocol.get('test_fraction')} · seed {protocol.get('seed')}",
    )
    curves = page.section("Recall@k per model")
    for metric, label in (("recall", "recall"), ("ndcg", "nDCG")):
        series = {
            name: (ks, [float(m[f"{metric}@{k}"]) for k in ks])
            for name, m in models.items()
            if (ks := _ks(m, metric))
        }
        if series:
            curves.figure(
                line_chart(series, title=f"{label}@k", xlabel="k (list length)", ylabel=f"{label}@k"),
                caption=f"{label}@k of each model on the held-out new pairs (DESIGN §4).",
            )
    if not curves.parts:
        curves.paragraph("No recall@k was measured.", empty=True)
    columns = metric_columns(result)
    page.section("Metrics").table(
        ["model", *columns, "fit s", "score s"],
        [
            [name, *(m.get(key) for key in columns), m.get("fit_seconds"), m.get("score_seconds")]
            for name, m in models.items()
        ],
    )
    return page.write(path)
