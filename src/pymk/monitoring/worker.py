"""``pymk worker``'s metrics: a batch hook that turns each :class:`~pymk.stream.worker.BatchReport`
into Prometheus families, and the optional HTTP endpoint serving them (the worker has no HTTP server).
"""

from __future__ import annotations

from bisect import bisect_left
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from pymk.monitoring.metrics import FRESHNESS_BUCKETS, LATENCY_BUCKETS
from pymk.monitoring.recorder import add_observations

if TYPE_CHECKING:
    from pymk.stream.worker import BatchReport

#: Batch wall time, seconds (a batch is up to worker_batch_size records).
BATCH_BUCKETS = (*LATENCY_BUCKETS, 5.0, 10.0, 30.0)


class WorkerMetrics:
    """The families of ``pymk worker``; call the instance as a batch hook."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.records = Counter(
            "pymk_worker_records",
            "Stream records consumed, by outcome: applied, duplicate, rejected (dead-lettered).",
            ["outcome"],
            registry=r,
        )
        self.batches = Histogram(
            "pymk_worker_batch_duration_seconds",
            "Wall time of one batch, poll to hooks.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.lag = Gauge(
            "pymk_worker_consumer_lag_records",
            "Records of the stream the consumer group has not acknowledged, when last measured.",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.freshness = Histogram(
            "pymk_worker_event_freshness_seconds",
            "Event time to applied (online store, event log and graph written), per applied event.",
            buckets=FRESHNESS_BUCKETS,
            registry=r,
        )
        self.dead_letters = Counter(
            "pymk_worker_dead_letters",
            "Records dead-lettered by the worker, by reason code.",
            ["reason"],
            registry=r,
        )
        for outcome in ("applied", "duplicate", "rejected"):
            self.records.labels(outcome)

    def __call__(self, report: BatchReport) -> None:
        self.records.labels("applied").inc(report.applied)
        self.records.labels("duplicate").inc(report.duplicates)
        self.records.labels("rejected").inc(report.rejected)
        self.batches.observe(report.seconds)
        if report.lag is not None:
            self.lag.set(report.lag)
        for reason, n in report.rejected_by_reason.items():
            self.dead_letters.labels(reason).inc(n)
        if report.freshness_each:
            # One bulk add per batch, not one observe per event (batches hold thousands).
            counts = [0] * (len(FRESHNESS_BUCKETS) + 1)
            for seconds in report.freshness_each:
                counts[bisect_left(FRESHNESS_BUCKETS, seconds)] += 1
            add_observations(self.freshness, counts, sum(report.freshness_each))

    def serve(self, port: int, host: str = "0.0.0.0") -> int:
        """Serve ``GET /metrics`` on ``host:port`` from a daemon thread; returns the bound port (0: any)."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return int(server.server_address[1])
