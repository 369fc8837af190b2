"""The serving hot path's metrics: counted in plain Python, flushed to prometheus-client in bulk.

In multiprocess mode every prometheus-client update takes a lock and writes a memory-mapped file (about
1-2 µs each, measured); the four updates of a request would cost more than the 5% of throughput the
metrics may take. :class:`RequestRecorder` instead keeps each request's latency and list length in
per-process lists (a dict lookup and one or two appends, no lock: everything runs on the event loop's
thread; bucketing each request as it ended cost ~3% more of a served GET's throughput, measured end to
end by ``benchmarks/metrics_overhead_serve.py``). About every ``flush_s`` seconds it buckets them with
NumPy and moves them into the :class:`~pymk.monitoring.metrics.ServeMetrics` families: on a request
when due, on a scrape (:meth:`flush`), and, after :meth:`start`, from a timer on the loop so an idle
process's last second shows too. A scrape sees other processes up to ``flush_s`` late.

A flush also sets ``pymk_model_version_info`` and ``pymk_model_created_timestamp_seconds`` (when each
loaded version was registered: the stale-model alert) from the service's loaded versions.

:class:`ThreadedRecorder` is the same behind a lock, for the gRPC server's thread pool.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Gauge

from pymk.monitoring.metrics import LATENCY_BUCKETS, LENGTH_BUCKETS, ServeMetrics

_LATENCY_EDGES = np.asarray(LATENCY_BUCKETS)
_LENGTH_EDGES = np.asarray(LENGTH_BUCKETS)
_CREATED_GAUGES: weakref.WeakKeyDictionary[CollectorRegistry, Gauge] = weakref.WeakKeyDictionary()


def version_created_timestamp(version: str) -> float | None:
    """When registry version ``version`` was registered, UNIX seconds, to the minute: the registry
    names a version by its number and registration time (``v0003-20261127T1130Z``, written by
    :func:`pymk.registry.manifest.format_version_id` from the manifest's ``created_at``), so the id
    every serving process holds already says it. None for an id of another form."""
    number, _, stamp = version.partition("-")
    if not (number[:1] == "v" and number[1:].isdigit()):
        return None
    try:
        return datetime.strptime(stamp, "%Y%m%dT%H%MZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def model_created_gauge(registry: CollectorRegistry) -> Gauge:
    """``pymk_model_created_timestamp_seconds{version}`` in ``registry`` (one family per registry,
    however many recorders count into it); ``livemax`` across the processes of a server."""
    gauge = _CREATED_GAUGES.get(registry)
    if gauge is None:
        gauge = _CREATED_GAUGES[registry] = Gauge(
            "pymk_model_created_timestamp_seconds",
            "When each loaded model version was registered (UNIX seconds); 0 once no process of this "
            "server serves it any more. Model age: time() - this.",
            ["version"],
            registry=registry,
            multiprocess_mode="livemax",
        )
    return gauge


def add_observations(child: Any, counts: Sequence[int], total: float) -> None:
    """Add pre-bucketed observations to one histogram child: ``counts[i]`` values fell in bucket ``i``
    (the ``+Inf`` one last), summing to ``total``. What ``observe`` does per value, done once per bucket."""
    child._sum.inc(total)
    for bucket, n in zip(child._buckets, counts, strict=True):
        if n:
            bucket.inc(n)


def bucketed(values: Sequence[float], edges: np.ndarray) -> tuple[list[int], float]:
    """How many of ``values`` fall in each histogram bucket of upper ``edges`` (``le``, inclusive; the
    ``+Inf`` bucket last), and their sum: what :func:`add_observations` takes."""
    array = np.asarray(values, dtype=np.float64)
    counts = np.bincount(np.searchsorted(edges, array, side="left"), minlength=len(edges) + 1)
    return [int(n) for n in counts], float(array.sum())


class _Series:
    """Requests of one (endpoint, source, status) since the last flush: their latencies (seconds) and
    the lengths of the lists they returned."""

    __slots__ = ("seconds", "lengths")

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self.lengths: list[int] = []


class RequestRecorder:
    """Counts requests for ``metrics``; ``late`` reads the service's real-time fallback count and
    ``versions`` its loaded model versions (control first), both read on a flush; ``created`` says when
    a version was registered (UNIX seconds, None: unknown, no sample).

    Call :meth:`started` when a request begins and :meth:`record` (one list of one source, the hot path)
    or :meth:`record_many` (any number of lists) when it has been answered; all from one thread (the
    event loop's)."""

    def __init__(
        self,
        metrics: ServeMetrics,
        *,
        flush_s: float = 1.0,
        late: Callable[[], int] = lambda: 0,
        versions: Callable[[], list[str]] = list,
        created: Callable[[str], float | None] = version_created_timestamp,
    ) -> None:
        self.metrics = metrics
        self.flush_s = flush_s
        self._late, self._versions, self._created = late, versions, created
        self._created_gauge = model_created_gauge(metrics.registry)
        self._late_seen = 0
        self._shown: set[tuple[str, str]] = set()
        self._series: dict[tuple[str, str, int], _Series] = {}
        self.in_flight = 0
        self._next = time.perf_counter() + flush_s
        self._timer: asyncio.TimerHandle | None = None

    def started(self) -> None:
        """A request began."""
        self.in_flight += 1

    def record(
        self, endpoint: str, source: str, status: int, seconds: float, length: int, now: float
    ) -> None:
        """A request ended after ``seconds`` with ``status``, returning one list of ``length`` items from
        ``source`` (``length`` < 0: no list; ``source`` then says ``none``). ``now``: ``perf_counter()``
        at its end (a flush is due when ``flush_s`` passed since the last)."""
        self.in_flight -= 1
        series = self._series.get((endpoint, source, status))
        if series is None:
            series = self._series[endpoint, source, status] = _Series()
        series.seconds.append(seconds)
        if length >= 0:
            series.lengths.append(length)
        if now >= self._next:
            self.flush()

    def record_many(
        self, endpoint: str, status: int, seconds: float, lists: Sequence[tuple[str, int]], now: float
    ) -> None:
        """A request that returned ``lists`` as ``(source, length)`` pairs; its latency is counted under
        their one source, ``mixed`` when they differ, ``none`` without lists."""
        for source, length in lists:  # before record(): a flush it makes then shows the lists too
            key = (endpoint, source, -1)  # lists only: status -1 holds no request
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = _Series()
            series.lengths.append(length)
        sources = {source for source, _ in lists}
        source = sources.pop() if len(sources) == 1 else "mixed" if sources else "none"
        self.record(endpoint, source, status, seconds, -1, now)

    def flush(self) -> None:
        """Move the counts so far into the metric families (and the fallback count, versions, in-flight)."""
        self._next = time.perf_counter() + self.flush_s
        series, self._series = self._series, {}
        in_flight = self.in_flight
        m = self.metrics
        for (endpoint, source, status), s in series.items():
            if s.lengths:
                add_observations(m.list_length.labels(endpoint), *bucketed(s.lengths, _LENGTH_EDGES))
                m.lists.labels(source).inc(len(s.lengths))
            if status < 0:
                continue
            n = len(s.seconds)
            add_observations(m.latency.labels(endpoint, source), *bucketed(s.seconds, _LATENCY_EDGES))
            m.requests.labels(endpoint, str(status)).inc(n)
            if status >= 400:
                m.errors.labels(endpoint, str(status)).inc(n)
        m.in_flight.set(in_flight)
        late = self._late()
        if late > self._late_seen:
            m.fallbacks.inc(late - self._late_seen)
            self._late_seen = late
        shown = {(v, "control" if i == 0 else "challenger") for i, v in enumerate(self._versions())}
        for version, role in shown | self._shown:
            m.model_version.labels(version, role).set(1 if (version, role) in shown else 0)
        if shown != self._shown:
            self._show_created({v for v, _ in shown}, {v for v, _ in self._shown})
        self._shown = shown

    def _show_created(self, now: set[str], before: set[str]) -> None:
        # 0, not remove(): in multiprocess mode a removed child's value stays in this process's file.
        for version in before - now:
            if self._created(version) is not None:
                self._created_gauge.labels(version).set(0)
        for version in now:
            created = self._created(version)
            if created is not None:
                self._created_gauge.labels(version).set(created)

    def start(self, loop: asyncio.AbstractEventLoop) -> RequestRecorder:
        """Flush every ``flush_s`` on ``loop`` (the one requests run on) until :meth:`close`."""

        def tick() -> None:
            self.flush()
            self._timer = loop.call_later(self.flush_s, tick)

        self._timer = loop.call_later(self.flush_s, tick)
        return self

    def close(self) -> None:
        """Stop the timer, then flush what is left."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.flush()


class ThreadedRecorder:
    """A :class:`RequestRecorder` for handlers on a thread pool (the gRPC server): every call takes one
    lock (uncontended: well under a microsecond), and after :meth:`start` a daemon thread flushes every
    ``recorder.flush_s`` seconds so an idle server's last counts reach ``/metrics`` too."""

    def __init__(self, recorder: RequestRecorder) -> None:
        self.recorder = recorder
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def started(self) -> None:
        """A request began (see :meth:`RequestRecorder.started`)."""
        with self._lock:
            self.recorder.in_flight += 1

    def record_many(
        self, endpoint: str, status: int, seconds: float, lists: Sequence[tuple[str, int]], now: float
    ) -> None:
        """A request ended (see :meth:`RequestRecorder.record_many`)."""
        with self._lock:
            self.recorder.record_many(endpoint, status, seconds, lists, now)

    def flush(self) -> None:
        """Move the counts so far into the metric families now."""
        with self._lock:
            self.recorder.flush()

    def start(self) -> ThreadedRecorder:
        """Flush every ``flush_s`` from a daemon thread until :meth:`close`."""

        def run() -> None:
            while not self._stop.wait(self.recorder.flush_s):
                self.flush()

        self._thread = threading.Thread(target=run, name="pymk-metrics-flush", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop the flushing thread, then flush what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()
