"""``pymk worker``'s loop: consume an event source in batches and apply each batch exactly once.

One batch, in order (each step durable before the next; :mod:`pymk.stream.journal` says why a kill
between any two of them is safe):

1. poll up to ``batch_size`` records; parse and validate each (:func:`~pymk.events.validation.parse_event`);
2. keep the new ones: events whose ``event_id`` and bad records whose source position the seen-events
   store has not marked (and the first of repeats within the batch);
3. write the journal; store the bad records in the dead-letter store with their reason and position
   (``source`` = ``"<stream>#<record id>"``, ``line`` = the file line for file streams);
4. apply the events to the online store, append them to the Parquet event log, apply them to the graph
   and id map under ``PYMK_HOME`` (written after every batch, so a restart resumes where it stopped);
5. mark their ids seen, ack the records to the source, delete the journal;
6. call the batch hooks with a :class:`BatchReport`.

Delivery: every record is applied once, skipped as a repeat of an ``event_id`` already applied, or
stored as a dead letter once — also across kills and restarts (a restarted worker first redoes the
journaled batch; a store that raises, e.g. ``ServiceUnavailable``, stops the worker with the journal
kept, and the restart finishes the batch). A batch of repeats only is acked without writing anything.
Hooks run after the ack, *at least once* per batch (a batch redone after a kill reports again). Late and
out-of-order events: the online store resolves them by event time (last writer wins); the graph and the
event log take them in arrival order, as ``pymk import`` does. Memory: one batch in flight (poll →
apply → ack; exactly-once needs batches written in order, so there is no separate in-flight limit), so
``batch_size`` bounds the records held. One worker per ``PYMK_HOME`` (it holds the home's import lock).

**Batch hooks** (``hooks=[fn, ...]``): ``fn(report)`` is called in the worker's thread after each batch
is acked; ``report.touched`` is the set of external user ids whose recommendations the batch may have
changed — every actor and target, and for a ``connect``, ``disconnect``, ``block`` or ``delete_user`` the
friends of both users as they were before the batch. A list-refresh hook reads it; a slow hook slows
the worker (hand the set to a queue for heavy work); an exception in a hook stops the worker after the
batch is acked, never half-way.
"""

from __future__ import annotations

import fcntl
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pymk.errors import InvalidRecord
from pymk.events.deadletter import DeadLetter, DeadLetterStore
from pymk.events.dedupe import SeenEvents
from pymk.events.schema import Event
from pymk.events.validation import DEFAULT_LIMITS, Limits, parse_event
from pymk.io.importer import HomeBusy
from pymk.online.base import OnlineStore
from pymk.stream.apply import HomeState
from pymk.stream.base import EventSource, Record
from pymk.stream.journal import (
    Journal,
    clear_journal,
    journal_path,
    letters_present,
    read_journal,
    write_journal,
)


@dataclass(frozen=True)
class BatchReport:
    """What one batch did. ``records == applied + duplicates + rejected`` (a redo has ``records`` 0:
    its records are delivered again, and counted, as duplicates); ``touched``: see the module
    doc; ``lag``: records of the stream the group had not acked when last measured (``None``: unknown);
    ``freshness_s``: the largest processing time minus event time among the applied events, seconds;
    ``redo``: a batch a killed worker had started, finished on restart; ``rejected_by_reason``: the
    dead letters this batch stored, per reason code; ``freshness_each``: processing time minus event
    time of every applied event, seconds, in batch order (the metrics' freshness histogram)."""

    records: int
    applied: int
    duplicates: int
    rejected: int
    touched: frozenset[str]
    seconds: float
    lag: int | None
    freshness_s: float | None
    redo: bool = False
    rejected_by_reason: Mapping[str, int] = field(default_factory=dict)
    freshness_each: tuple[float, ...] = ()


BatchHook = Callable[[BatchReport], None]


@dataclass
class WorkerReport:
    """Totals of one :meth:`Worker.run`; ``freshness_s`` holds each batch's freshness."""

    batches: int = 0
    records: int = 0
    applied: int = 0
    duplicates: int = 0
    rejected: int = 0
    seconds: float = 0.0
    lag: int | None = None
    freshness_s: list[float] = field(default_factory=list)

    @property
    def events_per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    def freshness(self, q: float) -> float | None:
        """The ``q`` quantile (0..1) of the batches' freshness, seconds; ``None`` before any event."""
        if not self.freshness_s:
            return None
        ordered = sorted(self.freshness_s)
        return ordered[min(int(q * len(ordered)), len(ordered) - 1)]

    def add(self, batch: BatchReport) -> None:
        self.batches += 1
        self.records += batch.records
        self.applied += batch.applied
        self.duplicates += batch.duplicates
        self.rejected += batch.rejected
        self.lag = batch.lag if batch.lag is not None else self.lag
        if batch.freshness_s is not None:
            self.freshness_s.append(batch.freshness_s)


@contextmanager
def home_lock(home: Path) -> Iterator[None]:
    """Hold ``home``'s import lock (the one ``pymk import`` takes); :class:`HomeBusy` when taken."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".import.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise HomeBusy(f"an import or another worker is writing to {home}") from None
        yield


class Worker:
    """Applies one source's records to one home and its stores; see the module doc.

    ``source_name`` names the stream in dead letters and in the seen ids of bad records (keep it stable
    across restarts). ``stall`` (seconds, tests only) sleeps between the steps of a batch so a test can
    kill the worker in the middle of one. Call :meth:`recover` (``run`` does) before polling.
    """

    def __init__(
        self,
        source: EventSource,
        home: Path,
        *,
        seen: SeenEvents,
        deadletters: DeadLetterStore,
        online: OnlineStore,
        source_name: str,
        group: str = "pymk",
        batch_size: int = 5000,
        poll_s: float = 1.0,
        limits: Limits = DEFAULT_LIMITS,
        hooks: Sequence[BatchHook] = (),
        lag_every_s: float = 5.0,
        stall: float = 0.0,
    ) -> None:
        self.source, self.seen, self.deadletters, self.online = source, seen, deadletters, online
        self.source_name, self.batch_size, self.poll_s, self.limits = source_name, batch_size, poll_s, limits
        self.hooks = list(hooks)
        self.state = HomeState(home)
        self.journal_path = journal_path(home, group)
        self._lag_every, self._lag_at = lag_every_s, 0.0
        self._lag: int | None = None
        self._stall = stall

    # -- one batch ----------------------------------------------------------------------------------

    def recover(self) -> BatchReport | None:
        """Finish the batch a killed worker left in the journal, if any."""
        journal = read_journal(self.journal_path)
        if journal is None:
            return None
        return self._write(journal, [], redo=True, started=time.perf_counter())

    def step(self, max_records: int | None = None) -> BatchReport | None:
        """Poll one batch (waiting up to ``poll_s``) and apply it; ``None`` when nothing arrived."""
        started = time.perf_counter()
        records = self.source.poll(min(self.batch_size, max_records or self.batch_size), self.poll_s)
        if not records:
            return None
        return self._write(self._decide(records), records, redo=False, started=started)

    def _decide(self, records: Sequence[Record]) -> Journal:
        """Parse, validate and dedupe ``records``; writes nothing."""
        now = time.time()
        parsed: list[Event | DeadLetter] = []
        keys: list[str] = []
        for record in records:
            position = f"{self.source_name}#{record.id}"
            try:
                event = parse_event(record.payload, self.limits)
                parsed.append(event)
                keys.append(event.event_id)
            except InvalidRecord as exc:
                raw = record.payload.decode("utf-8", "replace")
                line = int(record.id) if record.id.isdigit() else None
                parsed.append(DeadLetter(raw, exc.reason, exc.detail, position, line, now))
                keys.append(f"deadletter:{position}")
        flags = self.seen.filter_new(keys)
        kept = [(item, key) for item, key, new in zip(parsed, keys, flags, strict=True) if new]
        return Journal(
            batch=uuid.uuid4().hex,
            received_at=now,
            events=[item for item, _ in kept if isinstance(item, Event)],
            letters=[item for item, _ in kept if isinstance(item, DeadLetter)],
            mark=[key for _, key in kept],
            graph_inode=self.state.graph_inode(),
            record_ids=[r.id for r in records],
        )

    def _write(
        self, journal: Journal, records: Sequence[Record], *, redo: bool, started: float
    ) -> BatchReport:
        events = journal.events
        touched = frozenset(self.state.touched(events))
        writes = bool(journal.mark) or redo  # a batch of repeats only writes nothing, not even a journal
        if writes:
            self._apply(journal, redo)
        if records:
            self.source.ack(records)
        if writes:
            clear_journal(self.journal_path)
        now = time.time()
        freshness = tuple(now - e.ts for e in events)
        report = BatchReport(
            records=len(records),
            applied=len(events),
            duplicates=max(len(records) - len(journal.mark), 0),
            rejected=len(journal.letters),
            touched=touched,
            seconds=time.perf_counter() - started,
            lag=self._measure_lag(),
            freshness_s=max(freshness, default=None),
            redo=redo,
            rejected_by_reason=Counter(letter.reason for letter in journal.letters),
            freshness_each=freshness,
        )
        for hook in self.hooks:
            hook(report)
        return report

    def _apply(self, journal: Journal, redo: bool) -> None:
        """Steps 3-5 of the module doc up to the ack; every step idempotent or checked (see journal)."""
        if not redo:
            write_journal(self.journal_path, journal)
        self._pause()
        if journal.letters and not journal.letters_done:
            if not (redo and letters_present(self.deadletters, journal.letters)):
                self.deadletters.put(journal.letters)
            journal.letters_done = True
            write_journal(self.journal_path, journal)
        self._pause()
        if journal.events:
            self.online.apply(journal.events)
            self._pause()
            self.state.write_log(journal)
            self._pause()
            self.state.write_graph(journal)
            self._pause()
        self.seen.mark_seen(journal.mark)

    def _pause(self) -> None:
        if self._stall > 0:
            time.sleep(self._stall)

    def _measure_lag(self, force: bool = False) -> int | None:
        now = time.monotonic()
        if force or now - self._lag_at >= self._lag_every:
            self._lag, self._lag_at = self.source.lag(), now
        return self._lag

    # -- the loop -----------------------------------------------------------------------------------

    def run(
        self,
        *,
        max_events: int | None = None,
        idle_exit: float | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> WorkerReport:
        """Recover, then apply batches until ``max_events`` records were consumed, no record arrived for
        ``idle_exit`` seconds, or ``should_stop()``; returns the totals (``lag`` measured at the end)."""
        report = WorkerReport()
        started = time.perf_counter()
        redone = self.recover()
        if redone is not None:
            report.add(redone)
        idle_since = time.monotonic()
        while not should_stop():
            left = None if max_events is None else max_events - report.records
            if left is not None and left <= 0:
                break
            batch = self.step(left)
            if batch is None:
                if idle_exit is not None and time.monotonic() - idle_since >= idle_exit:
                    break
                continue
            idle_since = time.monotonic()
            report.add(batch)
        report.seconds = time.perf_counter() - started
        report.lag = self._measure_lag(force=True)
        return report


def stall_from_env() -> float:
    """Seconds to stall between batch steps, from ``PYMK_TEST_WORKER_STALL_S`` (tests only; 0 unset)."""
    return float(os.environ.get("PYMK_TEST_WORKER_STALL_S", "0") or 0)
