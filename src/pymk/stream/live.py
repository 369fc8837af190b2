"""Live load: publish a table of events to a sink at a steady rate (``pymk simulate --live``).

Rate control is a token bucket (:class:`TokenBucket`): ``rate`` tokens a second, at most ``burst``
saved up, one token per event; events go out in chunks of about 50 ms worth, so the rate holds at a
few events a second and at hundreds of thousands alike (the sink's own speed is the upper bound).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pyarrow as pa

from pymk.stream.base import EventSink

#: Called after each published chunk with (events published so far, seconds since the start).
LiveProgress = Callable[[int, float], None]


class TokenBucket:
    """``take(n)`` blocks until ``n`` tokens are there (a request larger than ``burst`` runs the bucket
    into debt, repaid before the next one passes): the long-run rate never exceeds ``rate`` per second."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate, self.burst = rate, burst if burst is not None else max(rate / 20, 1.0)
        self._clock, self._sleep = clock, sleep
        self._tokens, self._at = self.burst, clock()

    def take(self, n: int) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate) - n
        self._at = now
        if self._tokens < 0:
            self._sleep(-self._tokens / self.rate)


@dataclass(frozen=True)
class LiveReport:
    published: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.published / self.seconds if self.seconds > 0 else 0.0


def publish_live(
    sink: EventSink,
    tables: Iterable[pa.Table],
    *,
    rate: float,
    max_events: int | None = None,
    duration: float | None = None,
    stamp_now: bool = True,
    progress: LiveProgress | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> LiveReport:
    """Publish the events of ``tables`` (schema :data:`pymk.sim.SCHEMA`, in order) to ``sink`` at
    ``rate`` events a second until they run out, ``max_events`` were published or ``duration`` seconds
    passed. Each record is one DESIGN §2 JSON object keyed by its actor (one actor's events stay in
    order on partitioned streams); ``stamp_now`` sets each event's ``ts`` to the wall clock at publishing
    (live events, so the worker's freshness means something), otherwise the simulated times stay."""
    from pymk.sim.writers import json_lines

    bucket = TokenBucket(rate, clock=clock)
    chunk = int(min(max(rate / 20, 1), 5000))
    started, published = clock(), 0
    for table in tables:
        for start in range(0, table.num_rows, chunk):
            n = min(chunk, table.num_rows - start)
            if max_events is not None:
                n = min(n, max_events - published)
            if n <= 0 or (duration is not None and clock() - started >= duration):
                return LiveReport(published, clock() - started)
            part = table.slice(start, n)
            bucket.take(n)
            if stamp_now:
                ts = pa.array([time.time()] * n, pa.float64())
                part = part.set_column(part.schema.get_field_index("ts"), "ts", ts)
            payloads = [line.rstrip("\n").encode() for line in json_lines(part).to_pylist()]
            sink.publish(payloads, [actor.encode() for actor in part.column("actor").to_pylist()])
            published += n
            if progress is not None:
                progress(published, clock() - started)
    return LiveReport(published, clock() - started)
