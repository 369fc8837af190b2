"""The business half of ``pymk monitor``: CTR and acceptance over the drift check's window (or the whole log).

:func:`monitor_ctr` runs :func:`pymk.monitoring.ctr.ctr_report` on a home's event log for the window a
:class:`~pymk.monitoring.monitor.DriftReport` compared (impressions first shown after the window's start;
the window ends at the newest event, so nothing is later), or over every event when ``whole_log``.
:meth:`MonitorCtr.points` turns its series into the ``(time, version, ctr)`` points of the HTML report's
CTR section; :meth:`MonitorCtr.to_dict` is the ``ctr`` object of ``pymk monitor --json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymk.config import Settings
from pymk.monitoring.ctr import DAY, DEFAULT_WINDOW_S, HOUR, CtrReport, ctr_report
from pymk.monitoring.monitor import DriftReport
from pymk.monitoring.report import CtrPoint

#: Windows up to this long are bucketed by the hour by default, longer ones (and the whole log) by day.
HOURLY_UP_TO_S = 2 * DAY


@dataclass(frozen=True)
class MonitorCtr:
    """CTR of one ``pymk monitor`` run: ``scope`` is ``"window"`` or ``"log"`` (the whole event log)."""

    scope: str
    report: CtrReport

    @property
    def impressions(self) -> int:
        """Impressions counted, attributed or not."""
        return sum(row.impressions for row in self.report.versions)

    def points(self) -> list[CtrPoint]:
        """One ``(bucket start UTC, model version, CTR)`` per bucket and attributed version (all sources
        summed), for buckets with impressions; ordered by bucket, then version."""
        sums: dict[tuple[datetime, str], list[int]] = {}
        for row in self.report.series:
            if not row.attributed or row.bucket_start is None or row.impressions == 0:
                continue
            acc = sums.setdefault((row.bucket_start, row.model_version), [0, 0])
            acc[0] += row.clicks
            acc[1] += row.impressions
        return [(when, version, c / n) for (when, version), (c, n) in sorted(sums.items())]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: scope, period (RFC 3339 or null), parameters, ``versions`` (every source summed),
        ``totals`` (per version and source) and ``series`` (per bucket) rows of
        :meth:`CtrReport.records`."""
        rep = self.report
        return {
            "scope": self.scope,
            "since": _iso(rep.since),
            "until": _iso(rep.until),
            "bucket_s": rep.bucket_s,
            "acceptance_window_s": rep.window_s,
            "confidence": rep.confidence,
            "impressions": self.impressions,
            "unmatched_clicks": rep.unmatched_clicks,
            "versions": rep.records("versions"),
            "totals": rep.records("totals"),
            "series": rep.records("series"),
        }


def monitor_ctr(
    settings: Settings,
    drift: DriftReport,
    *,
    whole_log: bool = False,
    bucket_s: float | None = None,
    acceptance_window_s: float = DEFAULT_WINDOW_S,
    confidence: float = 0.95,
) -> MonitorCtr:
    """CTR and acceptance of ``settings.home``'s feedback over ``drift``'s window (or the whole log).

    ``bucket_s`` (seconds) defaults to an hour for windows up to :data:`HOURLY_UP_TO_S`, else a day.
    Raises :class:`~pymk.errors.InvalidInput` for bad parameters (see :func:`ctr_report`).
    """
    since = None if whole_log else drift.window.start
    if bucket_s is None:
        span = drift.window.seconds
        bucket_s = HOUR if not whole_log and span is not None and span <= HOURLY_UP_TO_S else DAY
    report = ctr_report(
        settings.home, bucket_s=bucket_s, window_s=acceptance_window_s, since=since, confidence=confidence
    )
    return MonitorCtr("log" if whole_log else "window", report)


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
