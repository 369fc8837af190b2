"""The charts pymk's reports draw, as matplotlib :class:`~matplotlib.figure.Figure` objects.

Figures are built on the object API (no pyplot state, nothing kept between calls) with the headless
"Agg" backend selected, so they work on servers without a display. Pass them to
:meth:`pymk.reports.page.Section.figure`, which embeds them as inline SVG.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

_GOOD, _BAD, _LINE = "#2e90fa", "#d92d20", "#5a6475"


def new_figure(width: float = 8.0, height: float = 3.6) -> Figure:
    """An empty figure (inches) after making sure matplotlib uses the headless Agg backend."""
    import matplotlib

    if matplotlib.get_backend().lower() != "agg":
        matplotlib.use("Agg")
    return Figure(figsize=(width, height), layout="constrained")


def _datetimes(seconds: Sequence[float]) -> np.ndarray:
    """UNIX seconds as ``datetime64[ms]`` (what matplotlib's date axis takes)."""
    return (np.asarray(seconds, dtype=np.float64) * 1000).astype(np.int64).astype("datetime64[ms]")


def line_chart(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    markers: bool = True,
) -> Figure:
    """One line per ``series`` entry (``name -> (xs, ys)``), with a legend naming them."""
    fig = new_figure()
    ax = fig.add_subplot()
    for name, (xs, ys) in series.items():
        ax.plot(list(xs), list(ys), marker="o" if markers else None, markersize=4, label=name)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    if series:
        ax.legend(fontsize="small", loc="best")
    return fig


def time_chart(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    title: str,
    ylabel: str,
    threshold: float | None = None,
) -> Figure:
    """Like :func:`line_chart` with UNIX-seconds x values shown as UTC dates; an optional dashed
    horizontal ``threshold`` line."""
    fig = new_figure()
    ax = fig.add_subplot()
    for name, (xs, ys) in series.items():
        ax.plot(_datetimes(xs), list(ys), marker="o", markersize=3, label=name)
    every = [float(x) for xs, _ in series.values() for x in xs]
    if every and min(every) == max(every):  # one instant: an hour either side, not matplotlib's years
        ax.set_xlim(_datetimes([every[0] - 3600.0, every[0] + 3600.0]).tolist())
    if threshold is not None:
        ax.axhline(threshold, color=_BAD, linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
    ax.set(title=title, xlabel="time (UTC)", ylabel=ylabel)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    if series:
        ax.legend(fontsize="small", loc="best")
    return fig


def threshold_bars(
    names: Sequence[str],
    values: Sequence[float],
    thresholds: Sequence[float],
    flagged: Sequence[bool],
    *,
    title: str,
    xlabel: str,
    log: bool = False,
    clip: float | None = None,
) -> Figure:
    """Horizontal bars of ``values`` (red where ``flagged``) with a black tick at each threshold.

    ``clip``: bars longer than this are drawn to it and labelled with their value, so one huge
    statistic does not flatten the others.
    """
    fig = new_figure(8.0, max(2.0, 0.28 * len(names) + 1.2))
    ax = fig.add_subplot()
    ys = list(range(len(names)))
    shown = [min(v, clip) if clip is not None else v for v in values]
    ax.barh(ys, shown, color=[_BAD if f else _GOOD for f in flagged], height=0.6)
    for y, value, bar in zip(ys, values, shown, strict=True):
        if value != bar:
            ax.text(bar, y, f" {value:.3g} ›", va="center", ha="right", fontsize="x-small", color="white")
    ax.scatter(list(thresholds), ys, marker="|", s=180, color="black", zorder=3, label="threshold")
    ax.set_yticks(ys, list(names), fontsize="small")
    ax.invert_yaxis()
    if log:
        ax.set_xscale("log")
    ax.set(title=title, xlabel=xlabel)
    ax.grid(axis="x", alpha=0.3)
    if names:
        ax.legend(fontsize="small", loc="lower right")
    return fig
