"""The serving hot path's metrics: counted in plain Python, flushed to prometheus-client in bulk.

In multiprocess mode every prometheus-client update takes a lock and writes a memory-mapped file (about
1-2 µs each, measured); the four updates of a request would cost more than the 5% of throughput the
metrics may take. :class:`RequestRecorder` instead adds each request to per-process counts (a dict
lookup, a bisect and a few integer additions under one uncontended lock) and moves them into the
:class:`~pymk.monitoring.metrics.ServeMetrics` families at most every ``flush_s`` seconds, on a request,
on a scrape (:meth:`flush`) and from a background thread (:meth:`start`) so an idle process's last
second shows too. A scrape therefore sees other processes up to ``flush_s`` late.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Sequence
from typing import Any

from pymk.monitoring.metrics import LATENCY_BUCKETS, LENGTH_BUCKETS, ServeMetrics


def add_observations(child: Any, counts: Sequence[int], total: float) -> None:
    """Add pre-bucketed observations to one histogram child: ``counts[i]`` values fell in bucket ``i``
    (the ``+Inf`` one last), summing to ``total``. What ``observe`` does per value, done once per bucket."""
    child._sum.inc(total)
    for bucket, n in zip(child._buckets, counts, strict=True):
        if n:
            bucket.inc(n)


class _Series:
    __slots__ = ("buckets", "total")

    def __init__(self, width: int) -> None:
        self.buckets = [0] * width
        self.total = 0.0


class RequestRecorder:
    """Counts requests for ``metrics``; ``late`` reads the service's real-time fallback count and
    ``versions`` its loaded model versions (control first), both read on a flush."""

    def __init__(
        self,
        metrics: ServeMetrics,
        *,
        flush_s: float = 1.0,
        late: Callable[[], int] = lambda: 0,
        versions: Callable[[], list[str]] = list,
    ) -> None:
        self.metrics = metrics
        self.flush_s = flush_s
        self._late, self._versions = late, versions
        self._late_seen = 0
        self._shown: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._latency: dict[tuple[str, str], _Series] = {}
        self._requests: dict[tuple[str, int], int] = {}
        self._lengths: dict[str, _Series] = {}
        self._lists: dict[str, int] = {}
        self.in_flight = 0
        self._next = time.perf_counter() + flush_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def started(self) -> None:
        """A request began (pair with :meth:`record`)."""
        self.in_flight += 1

    def record(
        self,
        endpoint: str,
        source: str,
        status: int,
        seconds: float,
        lengths: Sequence[int] = (),
        sources: Sequence[str] = (),
    ) -> None:
        """A request ended: its latency, status, the item count of each list it returned and each list's
        source. Flushes when ``flush_s`` passed since the last flush."""
        with self._lock:
            self.in_flight -= 1
            series = self._latency.get((endpoint, source))
            if series is None:
                series = self._latency[(endpoint, source)] = _Series(len(LATENCY_BUCKETS) + 1)
            series.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
            series.total += seconds
            key = (endpoint, status)
            self._requests[key] = self._requests.get(key, 0) + 1
            if lengths:
                sizes = self._lengths.get(endpoint)
                if sizes is None:
                    sizes = self._lengths[endpoint] = _Series(len(LENGTH_BUCKETS) + 1)
                for n in lengths:
                    sizes.buckets[bisect_left(LENGTH_BUCKETS, n)] += 1
                    sizes.total += n
                for s in sources:
                    self._lists[s] = self._lists.get(s, 0) + 1
        if time.perf_counter() >= self._next:
            self.flush()

    def flush(self) -> None:
        """Move the counts so far into the metric families (and the fallback count, versions, in-flight)."""
        with self._lock:
            self._next = time.perf_counter() + self.flush_s
            latency, self._latency = self._latency, {}
            requests, self._requests = self._requests, {}
            lengths, self._lengths = self._lengths, {}
            lists, self._lists = self._lists, {}
            in_flight = self.in_flight
        m = self.metrics
        for (endpoint, source), series in latency.items():
            add_observations(m.latency.labels(endpoint, source), series.buckets, series.total)
        for (endpoint, status), n in requests.items():
            m.requests.labels(endpoint, str(status)).inc(n)
            if status >= 400:
                m.errors.labels(endpoint, str(status)).inc(n)
        for endpoint, series in lengths.items():
            add_observations(m.list_length.labels(endpoint), series.buckets, series.total)
        for source, n in lists.items():
            m.lists.labels(source).inc(n)
        m.in_flight.set(in_flight)
        late = self._late()
        if late > self._late_seen:
            m.fallbacks.inc(late - self._late_seen)
            self._late_seen = late
        shown = {(v, "control" if i == 0 else "challenger") for i, v in enumerate(self._versions())}
        for version, role in shown | self._shown:
            m.model_version.labels(version, role).set(1 if (version, role) in shown else 0)
        self._shown = shown

    def start(self) -> RequestRecorder:
        """Flush every ``flush_s`` from a daemon thread until :meth:`close`."""

        def loop() -> None:
            while not self._stop.wait(self.flush_s):
                self.flush()

        self._thread = threading.Thread(target=loop, name="pymk-metrics-flush", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop the flusher thread, then flush what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.flush()
