"""The HTML page of ``pymk monitor --report``: drift per feature, drift over time, latency, CTR.

Sections (each drawn only from what it is given; an empty section says what would fill it):

1. summary: the verdict, model version, windows and each group's share of drifted features;
2. drift per feature: bar charts of each statistic against its threshold (distances: drift when the bar
   reaches the tick; p-values on a log axis: drift when the bar stays left of it) and the full table;
3. drift over time, from ``drift-history.jsonl`` (x: when each run was made): the voting share of
   drifted features per run against the dataset threshold, and the statistic of each ``data`` and
   ``prediction`` feature per run divided by its threshold (1 = at the threshold; p-values as
   ``threshold / p``, so up is worse for both);
4. latency over time, from a JSON-lines access log of ``pymk serve`` (:mod:`pymk.monitoring.logs`):
   p50 and p99 of ``latency_ms`` per time bucket (the log is sampled: successes at ``log_sample_rate``);
5. CTR over time: one line per model version from ``(time, version, ctr)`` points — the hook the CTR
   attribution (``pymk.monitoring.ctr``) feeds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from pymk.monitoring.drift import P_VALUES, group_of
from pymk.monitoring.monitor import DriftReport
from pymk.reports.figures import threshold_bars, time_chart
from pymk.reports.page import Cell, Page

#: Latency buckets per chart: the log's time span is cut into at most this many equal buckets.
LATENCY_BUCKETS = 60
#: A CTR point: (time as UNIX seconds or an aware datetime, model version, click-through rate 0..1).
CtrPoint = tuple[float | datetime, str, float]


@dataclass(frozen=True)
class LatencySample:
    """One request line of an access log: UNIX seconds, endpoint, latency in milliseconds."""

    ts: float
    endpoint: str
    latency_ms: float


def read_access_log(path: Path) -> tuple[list[LatencySample], int]:
    """The request lines of a JSON-lines access log (lines with ``ts`` and ``latency_ms``) and the number
    of other lines skipped (other loggers' records, non-JSON text). Raises ``FileNotFoundError``."""
    samples: list[LatencySample] = []
    skipped = 0
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                item = json.loads(line)
                ts = datetime.fromisoformat(str(item["ts"]).replace("Z", "+00:00"))
                if ts.tzinfo is None:
                    ts = ts.replace(tzinfo=UTC)
                samples.append(
                    LatencySample(ts.timestamp(), str(item.get("endpoint", "?")), float(item["latency_ms"]))
                )
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                skipped += 1
    return samples, skipped


def _ts(value: float | datetime | str | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, str):
        try:
            return _ts(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return float(value)


def _severity(feature: dict[str, Any]) -> float:
    """Statistic over threshold, oriented so that 1 is the threshold and more is worse."""
    value, threshold = float(feature["value"]), float(feature["threshold"])
    if feature["stat"] in P_VALUES:
        return threshold / max(value, 1e-300)
    return value / threshold if threshold else 0.0


def build_monitor_page(
    report: DriftReport,
    history: Sequence[dict[str, Any]] = (),
    latency: Sequence[LatencySample] | None = None,
    ctr: Iterable[CtrPoint] | None = None,
) -> Page:
    """The report page (see the module docstring); ``latency`` None: no access log was given."""
    page = Page(f"pymk monitor · {report.model_version}", subtitle=_subtitle(report))
    _summary(page, report)
    _per_feature(page, report)
    _over_time(page, history, report.share_threshold)
    _latency(page, latency)
    _ctr(page, ctr)
    return page


def _subtitle(report: DriftReport) -> str:
    w = report.window.iso()
    return f"window {w['start']} → {w['end']} ({w['events']:,} events)"


def _summary(page: Page, report: DriftReport) -> None:
    section = page.section("Verdict")
    verdict = "DRIFT" if report.drifted else "no drift"
    section.table(
        ["", ""],
        [
            ["verdict", Cell(verdict, "bad" if report.drifted else "good")],
            ["share of voting features drifted", report.drift.share_drifted],
            ["dataset drift at", report.share_threshold],
            ["voting groups", ", ".join(report.voting_groups)],
            ["model version", report.model_version],
            ["current window", "{start} → {end}, {events:,} events".format(**report.window.iso())],
            [
                "reference window",
                "{start} → {end}, {events:,} events".format(**report.reference_window.iso()),
            ],
        ],
    )
    section.table(
        ["group", "share drifted", "votes"],
        [[g, share, "yes" if g in report.voting_groups else "no"] for g, share in report.drift.group_shares],
        caption="Dataset drift: the share of drifted features among the voting groups reaches the "
        "threshold (drift_share). Every group is compared and shown.",
    )
    if report.drift.skipped:
        section.paragraph("Not compared (no values on one side): " + ", ".join(report.drift.skipped))


def _per_feature(page: Page, report: DriftReport) -> None:
    section = page.section("Drift per feature")
    features = report.features
    if not features:
        section.paragraph("No feature could be compared.", empty=True)
        return
    distances = [f for f in features if f.stat not in P_VALUES]
    pvalues = [f for f in features if f.stat in P_VALUES]
    if distances:
        section.figure(
            threshold_bars(
                [f.name for f in distances],
                [f.value for f in distances],
                [f.threshold for f in distances],
                [f.drifted for f in distances],
                title="Distances (drift when the bar reaches the threshold tick)",
                xlabel="statistic",
                clip=5 * max(f.threshold for f in distances),
            )
        )
    if pvalues:
        section.figure(
            threshold_bars(
                [f.name for f in pvalues],
                [max(f.value, 1e-300) for f in pvalues],
                [f.threshold for f in pvalues],
                [f.drifted for f in pvalues],
                title="p-values (drift when the bar ends left of the threshold tick)",
                xlabel="p-value (log scale)",
                log=True,
            )
        )
    section.table(
        ["feature", "group", "kind", "statistic", "value", "threshold", "drift"],
        [
            [
                f.name,
                group_of(f.name),
                f.kind,
                f.stat,
                f.value,
                f.threshold,
                Cell("drift", "bad") if f.drifted else "",
            ]
            for f in features
        ],
    )


def _over_time(page: Page, history: Sequence[dict[str, Any]], share_threshold: float) -> None:
    section = page.section("Drift over time")
    points = [(t, h) for h in history if (t := _ts(h.get("generated_at")))]
    if not points:
        section.paragraph("No earlier runs in drift-history.jsonl yet.", empty=True)
        return
    points.sort(key=lambda p: p[0])
    times = [t for t, _ in points]
    section.figure(
        time_chart(
            {
                "share drifted (voting groups)": (
                    times,
                    [float(h.get("share_drifted", 0.0)) for _, h in points],
                )
            },
            title="Share of drifted voting features per run",
            ylabel="share",
            threshold=share_threshold,
        )
    )
    series: dict[str, tuple[list[float], list[float]]] = {}
    for t, h in points:
        for f in h["features"]:
            name = str(f.get("name"))
            if group_of(name) == "features":
                continue
            try:
                value = _severity(f)
            except (KeyError, TypeError, ValueError):
                continue
            xs, ys = series.setdefault(name, ([], []))
            xs.append(t)
            ys.append(min(value, 1e3))
    section.figure(
        time_chart(
            series,
            title="Statistic / threshold per run (data and prediction features; > 1 is drift)",
            ylabel="statistic / threshold",
            threshold=1.0,
        )
    )


def _latency(page: Page, latency: Sequence[LatencySample] | None) -> None:
    section = page.section("Latency over time")
    if latency is None:
        section.paragraph(
            "No access log given: pass --access-log FILE (pymk serve's JSON lines).", empty=True
        )
        return
    if not latency:
        section.paragraph("The access log holds no request line.", empty=True)
        return
    ts = np.array([s.ts for s in latency])
    ms = np.array([s.latency_ms for s in latency])
    lo, hi = float(ts.min()), float(ts.max())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, LATENCY_BUCKETS + 1)
    bucket = np.clip(np.searchsorted(edges, ts, side="right") - 1, 0, LATENCY_BUCKETS - 1)
    mids, p50, p99 = [], [], []
    for b in np.unique(bucket):
        values = ms[bucket == b]
        mids.append(float((edges[b] + edges[b + 1]) / 2))
        p50.append(float(np.percentile(values, 50)))
        p99.append(float(np.percentile(values, 99)))
    section.figure(
        time_chart({"p50": (mids, p50), "p99": (mids, p99)}, title="Request latency", ylabel="ms"),
        caption=f"{len(latency):,} request lines (successes are sampled at log_sample_rate).",
    )


def _ctr(page: Page, ctr: Iterable[CtrPoint] | None) -> None:
    section = page.section("CTR over time")
    series: dict[str, tuple[list[float], list[float]]] = {}
    for when, version, rate in sorted(ctr or (), key=lambda p: _ts(p[0]) or 0.0):
        t = _ts(when)
        if t is None:
            continue
        xs, ys = series.setdefault(str(version), ([], []))
        xs.append(t)
        ys.append(float(rate))
    if not series:
        section.paragraph("No CTR series given yet (per model version: time, version, ctr).", empty=True)
        return
    section.figure(time_chart(series, title="Click-through rate per model version", ylabel="CTR"))


def write_monitor_report(
    path: Path,
    report: DriftReport,
    history: Sequence[dict[str, Any]] = (),
    latency: Sequence[LatencySample] | None = None,
    ctr: Iterable[CtrPoint] | None = None,
) -> Path:
    """Build (:func:`build_monitor_page`) and write the page to ``path``; returns ``path``."""
    return build_monitor_page(report, history, latency, ctr).write(path)
