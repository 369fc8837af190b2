"""Prometheus metric families of the serving and worker processes, and their exposition.

Multi-process: ``pymk serve`` runs several granian worker processes. :func:`use_multiprocess_dir` (called
by ``pymk serve`` before any worker starts) points prometheus-client's multiprocess mode at an empty
directory; every process then writes its values to memory-mapped files there and ``/metrics``, in
whichever process answers it, aggregates them all (:func:`exposition`). Gauges are ``livesum``/``livemax``:
a process that exits drops out of them. Without that directory every family lives in the registry its
owner was built with (tests, ``pymk worker``).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections import Counter as Tally
from collections.abc import Container, Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from pymk.events.schema import FEEDBACK_TYPES, Attribution, Event
from pymk.monitoring.drift_metrics import scrape_collectors

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
#: Latency buckets, seconds: the real-time budget (50 ms) is a bucket edge, so its alert is exact.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
#: Items per recommendation list (k is 1..200).
LENGTH_BUCKETS = (0.0, 1.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0)
#: Event time -> applied by the worker, seconds.
FRESHNESS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
#: Label values of feedback events: without attribution props, and with a value this process does not
#: know (clients send these labels: unknown values are folded so a client cannot add series).
UNATTRIBUTED_LABEL = "none"
OTHER_LABEL = "other"
FEEDBACK_SOURCES = frozenset({"precomputed", "realtime"})


def feedback_labels(events: Iterable[Event], versions: Container[str]) -> Tally[tuple[str, str, str]]:
    """``(type, model_version, source)`` -> count over the impression/click events of ``events``.

    A model version outside ``versions`` (the versions this server has loaded) and a source outside
    :data:`FEEDBACK_SOURCES` count as :data:`OTHER_LABEL`; an unattributed event has both labels
    :data:`UNATTRIBUTED_LABEL`. Other event types are not counted.
    """
    tally: Tally[tuple[str, str, str]] = Tally()
    for event in events:
        if event.type not in FEEDBACK_TYPES:
            continue
        found = Attribution.of(event)
        if found is None:
            tally[event.type.value, UNATTRIBUTED_LABEL, UNATTRIBUTED_LABEL] += 1
            continue
        version = found.model_version if found.model_version in versions else OTHER_LABEL
        source = found.source if found.source in FEEDBACK_SOURCES else OTHER_LABEL
        tally[event.type.value, version, source] += 1
    return tally


def use_multiprocess_dir(path: Path) -> Path:
    """Empty ``path`` (values of an earlier run must not add up with this one) and make it the
    multiprocess directory of this process and of every process it starts afterwards."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    join_multiprocess_dir(path)
    return path


def join_multiprocess_dir(path: Path) -> None:
    """Write this process's metrics under ``path`` (created by :func:`use_multiprocess_dir`), also when
    prometheus-client was imported before; families built before this call keep their old storage."""
    os.environ[MULTIPROC_ENV] = str(path)
    values = sys.modules.get("prometheus_client.values")
    if values is not None:  # imported before the variable was set (by a dependency): choose again
        values.ValueClass = values.get_value_class()  # type: ignore[attr-defined]


def multiprocess_dir() -> str | None:
    """The multiprocess directory this process writes to, or None (single-process mode)."""
    return os.environ.get(MULTIPROC_ENV) or None


def exposition(
    registry: CollectorRegistry, path: str | None = None, collectors: Iterable[Collector] | None = None
) -> bytes:
    """The Prometheus text format of every process writing under ``path`` (default: the multiprocess
    directory, when this process has one), else of ``registry``; then that of ``collectors``, read now
    (default: :func:`~pymk.monitoring.drift_metrics.scrape_collectors`, the drift report of the
    ``PYMK_HOME`` that ``pymk serve`` exports). Their family names must differ from ``registry``'s."""
    path = path or multiprocess_dir()
    if path is None:
        text = generate_latest(registry)
    else:
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=path)  # type: ignore[no-untyped-call]
        text = generate_latest(merged)
    extra = scrape_collectors() if collectors is None else list(collectors)
    if not extra:
        return text
    side = CollectorRegistry(auto_describe=False)
    for collector in extra:
        side.register(collector)
    return text + generate_latest(side)


class ServeMetrics:
    """The families of ``pymk serve`` (see the README's monitoring section for the names)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.latency = Histogram(
            "pymk_http_request_duration_seconds",
            "HTTP request latency by endpoint and response source (precomputed, realtime, mixed, none).",
            ["endpoint", "source"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.requests = Counter(
            "pymk_http_requests",
            "HTTP requests answered, by endpoint and status.",
            ["endpoint", "status"],
            registry=r,
        )
        self.errors = Counter(
            "pymk_http_errors",
            "HTTP answers with status >= 400, by endpoint and status.",
            ["endpoint", "status"],
            registry=r,
        )
        self.in_flight = Gauge(
            "pymk_http_requests_in_flight",
            "HTTP requests being answered.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.list_length = Histogram(
            "pymk_recommendation_list_length",
            "Items per returned recommendation list.",
            ["endpoint"],
            buckets=LENGTH_BUCKETS,
            registry=r,
        )
        self.lists = Counter(
            "pymk_recommendation_lists",
            "Recommendation lists returned, by source (the source mix).",
            ["source"],
            registry=r,
        )
        self.fallbacks = Counter(
            "pymk_realtime_fallbacks",
            "Real-time answers past the budget (or without a free slot) answered from the stored list.",
            registry=r,
        )
        self.intake = Counter(
            "pymk_intake_events",
            "Events POSTed to /v1/events, by outcome: accepted (published) or rejected (dead-lettered).",
            ["outcome"],
            registry=r,
        )
        self.intake_dead_letters = Counter(
            "pymk_intake_dead_letters",
            "Events POSTed to /v1/events that went to the dead-letter store, by reason code.",
            ["reason"],
            registry=r,
        )
        self.feedback = Counter(
            "pymk_feedback_events",
            "Impression and click events accepted by POST /v1/events, by type and the model version and "
            "source of the list they are about ('none': unattributed; 'other': a value not served here). "
            "CTR per version: rate(click) / rate(impression).",
            ["type", "model_version", "source"],
            registry=r,
        )
        self.model_version = Gauge(
            "pymk_model_version_info",
            "1 for each model version a serving process has loaded; role: control or challenger.",
            ["version", "role"],
            registry=r,
            multiprocess_mode="livemax",
        )
