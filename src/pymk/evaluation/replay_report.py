"""Render a replay result (:func:`pymk.evaluation.replay.replay`) as a Rich table, a text table or a plot."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.table import Table


def _hit_keys(result: Mapping[str, Any]) -> list[str]:
    return [f"hit@{k}" for k in result["protocol"]["ks"]]


def replay_rows(result: Mapping[str, Any]) -> list[list[str]]:
    """One row per (policy, model): policy, model, hit@k..., queries, coverage, states, CPU s/day.

    A sampled replay (``states_total`` present) shows each hit@k with its 95 % interval, the queries and
    states as ``sampled/total``, and coverage over all the policy's queries."""
    rows = []
    for policy, models in result["policies"].items():
        for name, r in models.items():
            cpu = r.get("cpu_seconds_per_day")
            ci = r.get("interval95", {})
            hits = [
                f"{r[key]:.4f}" + (f" [{ci[key][0]:.3f}, {ci[key][1]:.3f}]" if key in ci else "")
                for key in _hit_keys(result)
            ]
            queries, states = f"{r['queries']:,}", f"{r['states']:,}"
            if "states_total" in r:
                queries += f"/{r['queries_total']:,}"
                states += f"/{r['states_total']:,}"
            rows.append(
                [
                    policy,
                    name,
                    *hits,
                    queries,
                    f"{r['coverage']:.3f}",
                    states,
                    "—" if cpu is None else f"{cpu:.3g}",
                ]
            )
    return rows


def _header(result: Mapping[str, Any]) -> list[str]:
    return ["refresh", "model", *_hit_keys(result), "queries", "coverage", "states", "CPU s/day"]


def replay_table(result: Mapping[str, Any], *, title: str | None = None) -> Table:
    """Policies × models with hit@k, query counts, cold-start coverage, states and CPU seconds per day."""
    data = result["dataset"]
    caption = (
        f"{data['users']:,} users · {data['train_rows']:,} train rows ({data['train_users']:,} users)"
        f" · {data['new_pairs']:,} new pairs replayed · coverage = queries / (2 × new pairs)"
    )
    table = Table(title=title, caption=caption, header_style="bold")
    for i, col in enumerate(_header(result)):
        table.add_column(col, justify="left" if i < 2 else "right")
    for row in replay_rows(result):
        table.add_row(*row)
    return table


def replay_text(result: Mapping[str, Any]) -> str:
    """The table as Markdown (for RESULTS.md)."""
    header = _header(result)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in replay_rows(result)]
    return "\n".join(lines) + "\n"


def replay_plot(result: Mapping[str, Any], path: Path, k: int) -> bool:
    """hit@k and CPU s/day against the refresh interval, one line per model, as an image at ``path``.

    Real-time is drawn at 60 s and ``never`` at 8 times the longest interval (log axis). Returns False
    (and writes nothing) when matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    every: dict[str, float | None] = result["protocol"]["policies"]
    finite = [v for v in every.values() if v]
    longest = max(finite, default=86400.0)
    xs = {p: 60.0 if v == 0.0 else (8 * longest if v is None else v) for p, v in every.items()}
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    names = list(next(iter(result["policies"].values()), {}))
    for name in names:
        pts = [(xs[p], r[name]) for p, r in result["policies"].items() if name in r]
        pts.sort(key=lambda x: x[0])
        left.plot([x for x, _ in pts], [r[f"hit@{k}"] for _, r in pts], marker="o", label=name)
        cost = [(x, r.get("cpu_seconds_per_day")) for x, r in pts]
        cost = [(x, c) for x, c in cost if c]
        if cost:
            right.plot([x for x, _ in cost], [c for _, c in cost], marker="o", label=name)
    ticks = sorted(xs.items(), key=lambda kv: kv[1])
    for ax, ylabel in ((left, f"hit@{k}"), (right, "CPU seconds per day")):
        ax.set_xscale("log")
        ax.set_xticks([x for _, x in ticks], [p for p, _ in ticks])
        ax.set_xlabel("refresh interval")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    right.set_yscale("log")
    left.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
