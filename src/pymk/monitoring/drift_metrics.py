"""The latest drift report as Prometheus gauges, read when ``/metrics`` is scraped.

``pymk monitor`` writes ``PYMK_HOME/monitoring/drift-latest.json``::

    {"generated_at": "2026-11-27T11:30:05Z", "model_version": "v0003-...", "window": {...},
     "drifted": true, "share_drifted": 0.4,
     "features": [{"name": "degree", "kind": "numeric", "stat": "psi", "value": 0.31,
                   "threshold": 0.2, "drifted": true}, ...]}

:class:`DriftCollector` reads that file on every collect (a scrape every 15 s reads a few KB) and yields:

- ``pymk_drift_report_valid``: 1 when the file was read and understood, 0 when it exists but is not a
  report (unreadable, not JSON, a field missing or of the wrong type); no sample when there is no file;
- ``pymk_drift_report_info{model_version}``: 1, naming the version the report compared against;
- ``pymk_drift_detected``: 1 when the report says the data drifted overall, else 0;
- ``pymk_drift_share_drifted``: the share of features that drifted, 0..1;
- ``pymk_drift_generated_timestamp_seconds``: when the report was generated (UNIX seconds, UTC);
- ``pymk_drift_feature_value{feature,kind,stat}``, ``pymk_drift_feature_threshold{feature,kind,stat}``
  and ``pymk_drift_feature_drifted{feature}``: per feature (the first entry of a name repeated), the
  statistic, its threshold and 0/1 (ks and chisquare are p-values: drifted *below* the threshold).

Every sample but ``pymk_drift_report_valid`` is absent while the report is missing or invalid, so an
alert on them never fires on stale or made-up values. The collector keeps no state between scrapes: a
serving process of many workers answers ``/metrics`` from whichever worker, each reads the same file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import BaseModel, ConfigDict, Field, ValidationError

#: Where ``pymk monitor`` writes its latest report, relative to ``PYMK_HOME``.
DRIFT_REPORT = Path("monitoring") / "drift-latest.json"
log = logging.getLogger(__name__)


class FeatureDrift(BaseModel):
    """One feature's comparison with the reference profile."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str = Field(min_length=1)
    kind: str = Field(description="numeric or categorical.")
    stat: str = Field(description="The statistic, e.g. psi, ks, wasserstein, jensenshannon, chi2.")
    value: float
    threshold: float
    drifted: bool


class DriftReport(BaseModel):
    """What the gauges need of ``drift-latest.json`` (other fields, e.g. ``window``, are ignored)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    generated_at: datetime = Field(description="ISO 8601; a time without a zone is taken as UTC.")
    model_version: str
    drifted: bool
    share_drifted: float = Field(ge=0.0, le=1.0)
    features: list[FeatureDrift] = Field(default_factory=list)

    def generated_timestamp(self) -> float:
        """``generated_at`` as UNIX seconds."""
        when = self.generated_at
        return (when if when.tzinfo is not None else when.replace(tzinfo=UTC)).timestamp()


def read_report(path: Path) -> DriftReport | None:
    """The report at ``path``; None when there is no file. Raises :class:`ValueError` naming the file
    and the problem when it exists but is not a drift report."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc}") from exc
    try:
        return DriftReport.model_validate_json(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(document)'}: {e['msg']}" for e in exc.errors()
        )
        raise ValueError(f"{path}: not a drift report: {problems}") from exc


def _gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels)


class DriftCollector(Collector):
    """Yields the gauges of the drift report at ``path`` (see the module docstring) on each collect."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._warned: tuple[float, int] | None = None  # (mtime, size) of the invalid file last logged

    @classmethod
    def for_home(cls, home: Path) -> DriftCollector:
        """The collector of ``home``'s latest report (``home / DRIFT_REPORT``)."""
        return cls(home / DRIFT_REPORT)

    def describe(self) -> list[Metric]:
        """Nothing: registering must not read the file (prometheus-client then calls :meth:`collect`
        only when exposing)."""
        return []

    def collect(self) -> Iterator[Metric]:
        """The gauges of the report as it is now on disk."""
        valid = _gauge(
            "pymk_drift_report_valid",
            "1 when the latest drift report (PYMK_HOME/monitoring/drift-latest.json) was read, 0 when "
            "it exists but is not a valid report.",
        )
        try:
            report = read_report(self.path)
        except ValueError as exc:
            self._warn_once(exc)
            valid.add_metric([], 0.0)
            yield valid
            return
        if report is None:
            return
        valid.add_metric([], 1.0)
        yield valid
        info = _gauge(
            "pymk_drift_report_info",
            "1, labelled with the model version the latest drift report compared against.",
            ["model_version"],
        )
        info.add_metric([report.model_version], 1.0)
        yield info
        yield GaugeMetricFamily(
            "pymk_drift_detected",
            "1 when the latest drift report found overall drift, else 0.",
            value=1.0 if report.drifted else 0.0,
        )
        yield GaugeMetricFamily(
            "pymk_drift_share_drifted",
            "Share of the features that drifted in the latest drift report (0..1).",
            value=report.share_drifted,
        )
        yield GaugeMetricFamily(
            "pymk_drift_generated_timestamp_seconds",
            "When the latest drift report was generated (UNIX seconds).",
            value=report.generated_timestamp(),
        )
        value = _gauge(
            "pymk_drift_feature_value",
            "Drift statistic of each feature against the model version's reference profile.",
            ["feature", "kind", "stat"],
        )
        threshold = _gauge(
            "pymk_drift_feature_threshold",
            "The threshold above which the feature's drift statistic counts as drift.",
            ["feature", "kind", "stat"],
        )
        drifted = _gauge("pymk_drift_feature_drifted", "1 when the feature drifted, else 0.", ["feature"])
        seen: set[str] = set()
        for f in report.features:
            if f.name in seen:  # one sample per label set, or Prometheus rejects the whole scrape
                continue
            seen.add(f.name)
            value.add_metric([f.name, f.kind, f.stat], f.value)
            threshold.add_metric([f.name, f.kind, f.stat], f.threshold)
            drifted.add_metric([f.name], 1.0 if f.drifted else 0.0)
        yield from (value, threshold, drifted)

    def _warn_once(self, exc: ValueError) -> None:
        """Log an invalid report once per version of the file, not at every scrape."""
        try:
            stat = self.path.stat()
            key = (stat.st_mtime, stat.st_size)
        except OSError:
            key = (0.0, -1)
        if key != self._warned:
            self._warned = key
            log.warning("drift report ignored: %s", exc)


def scrape_collectors() -> list[Collector]:
    """The collectors ``/metrics`` of ``pymk serve`` adds at every scrape: the drift report of
    ``PYMK_HOME`` (which ``pymk serve`` exports to its worker processes); none when it is unset."""
    home = os.environ.get("PYMK_HOME")
    return [DriftCollector.for_home(Path(home))] if home else []
