"""Replay dead letters: validate each selected record again (as stored, or as an operator fixed it) and
send the events that now pass through the path live events take.

One record, one :class:`Attempt`, decided in this order:

- the payload (the stored ``raw``, or the record's fix from :func:`load_fixes`) is parsed and validated
  with the current limits; still invalid → ``invalid:<reason>``. A *fixed* payload that fails is stored
  as a new dead letter (source ``deadletter#<id>``, so it can be fixed again and replayed); an unchanged
  one is not stored twice: the record itself is its dead letter;
- valid, but its ``event_id`` was applied already (the seen-events store) or comes earlier in this
  replay → ``duplicate``: nothing is sent (ingestion is idempotent by ``event_id``, DESIGN §2);
- otherwise it is sent: ``applied`` through :class:`HomeApplier` (the worker's own batch path, journaled:
  online store, event log, graph, seen ids) or ``published`` through :class:`StreamApplier` (the
  configured stream, keyed by actor like ``POST /v1/events``; the running worker applies it).

"Nothing lost": a record is marked (``replayed_at``, ``replay_outcome``) only after its event was
applied or published, found a duplicate, or its fixed payload was stored as a new dead letter. A replay
killed at any point can be run again: unmarked records are tried again, events it had already applied
come out as ``duplicate``. Marked records are left out of later replays unless the selection asks for
them (``Selection(replayed=None)``: ``--again``). A dry run decides and reports but writes nothing.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import orjson

from pymk.errors import InvalidInput, InvalidRecord
from pymk.events.deadletter import DeadLetter, DeadLetterStore, Selection
from pymk.events.dedupe import SeenEvents
from pymk.events.schema import Event
from pymk.events.validation import DEFAULT_LIMITS, Limits, parse_event
from pymk.online.base import OnlineStore
from pymk.stream.base import EventSink, Record
from pymk.stream.worker import Worker

#: ``source`` of a dead letter a replay stores, and the stream name its seen key uses.
SOURCE = "deadletter"


class Outcome(StrEnum):
    """What replaying one record did (or, in a dry run, would do)."""

    APPLIED = "applied"
    PUBLISHED = "published"
    DUPLICATE = "duplicate"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One replayed record: ``record`` as stored before the replay, ``fixed`` when the payload came from
    the fixes, ``reason``/``detail`` of the new rejection (``invalid`` only), ``event_id`` when valid,
    ``stored_as_new`` when a fixed payload was stored as a new dead letter."""

    record: DeadLetter
    outcome: Outcome
    fixed: bool
    event_id: str | None = None
    reason: str | None = None
    detail: str | None = None
    stored_as_new: bool = False

    @property
    def mark(self) -> str:
        """The ``replay_outcome`` stored for the record: the outcome, ``invalid:<reason>`` when invalid."""
        return (
            f"{self.outcome.value}:{self.reason}" if self.outcome is Outcome.INVALID else self.outcome.value
        )


@dataclass
class ReplayReport:
    """Every attempt in record order; ``dry_run`` when nothing was written."""

    attempts: list[Attempt] = field(default_factory=list)
    dry_run: bool = False

    def counts(self) -> dict[str, int]:
        """``{outcome: n}`` over the outcomes (``invalid`` not split by reason), every outcome present."""
        out = {o.value: 0 for o in Outcome}
        for a in self.attempts:
            out[a.outcome.value] += 1
        return out


class Applier(Protocol):
    """Where the valid new events of a replay go. ``outcome`` names what success means."""

    outcome: Outcome

    def send(self, records: Sequence[Record], events: Sequence[Event]) -> None:
        """Apply or publish ``events`` (``records[i]`` is ``events[i]``'s payload); durable on return."""
        ...


class StreamApplier:
    """Publishes to the configured event stream; the running worker validates and applies."""

    outcome = Outcome.PUBLISHED

    def __init__(self, sink: EventSink) -> None:
        self.sink = sink

    def send(self, records: Sequence[Record], events: Sequence[Event]) -> None:
        self.sink.publish([r.payload for r in records], [e.actor.encode() for e in events])


class _ListSource:
    """An :class:`~pymk.stream.base.EventSource` over records handed to it (nothing to ack)."""

    def __init__(self) -> None:
        self.pending: list[Record] = []

    def poll(self, max_records: int = 1000, timeout: float = 1.0) -> list[Record]:
        out, self.pending = self.pending[:max_records], self.pending[max_records:]
        return out

    def ack(self, records: Sequence[Record]) -> None:
        """Nothing to commit: the dead-letter marks are the replay's position."""

    def lag(self) -> int | None:
        return len(self.pending)

    def close(self) -> None:
        self.pending = []


class HomeApplier:
    """Applies through :class:`~pymk.stream.worker.Worker`'s batch path into ``home`` and ``online``
    (journal group ``deadletter-replay``; a batch a killed replay left is finished on construction).
    The caller holds the home's import lock (:func:`~pymk.stream.worker.home_lock`)."""

    outcome = Outcome.APPLIED

    def __init__(
        self,
        home: Path,
        *,
        seen: SeenEvents,
        deadletters: DeadLetterStore,
        online: OnlineStore,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self._source = _ListSource()
        self.worker = Worker(
            self._source,
            home,
            seen=seen,
            deadletters=deadletters,
            online=online,
            source_name=SOURCE,
            group="deadletter-replay",
            batch_size=1 << 30,
            poll_s=0.0,
            limits=limits,
        )
        self.worker.recover()

    def send(self, records: Sequence[Record], events: Sequence[Event]) -> None:
        self._source.pending = list(records)
        while self._source.pending:
            self.worker.step()


def load_fixes(path: Path) -> dict[int, bytes]:
    """Fixed payloads by dead-letter id from an NDJSON file (the shape ``pymk deadletter export``
    writes): one object per line with ``deadletter_id`` (int) and ``event`` (the fixed event, an
    object) or, without ``event``, ``raw`` (the payload text, verbatim). Other keys are ignored; blank
    lines are skipped. Raises :class:`InvalidInput` naming the line for anything else or a repeated id.
    """
    fixes: dict[int, bytes] = {}
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"--input {path} line {number}"
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise InvalidInput(f"{where}: not valid JSON ({exc})") from None
            if not isinstance(obj, dict):
                raise InvalidInput(f"{where}: expected a JSON object")
            record_id = obj.get("deadletter_id")
            if isinstance(record_id, bool) or not isinstance(record_id, int):
                raise InvalidInput(f"{where}: deadletter_id must be an integer")
            if record_id in fixes:
                raise InvalidInput(f"{where}: deadletter_id {record_id} appears twice")
            if "event" in obj:
                fixes[record_id] = orjson.dumps(obj["event"])
            elif isinstance(obj.get("raw"), str):
                fixes[record_id] = obj["raw"].encode()
            else:
                raise InvalidInput(f"{where}: needs 'event' (an object) or 'raw' (a string)")
    return fixes


Progress = Callable[[int, int], None]


class Replayer:
    """Replays selections of one dead-letter store (see the module doc).

    ``applier`` is ``None`` for a dry run only. ``seen`` is read to find duplicates, and written only
    for fixed payloads stored as new dead letters (their key, like the worker's for bad records, makes
    a rerun store them once).
    """

    def __init__(
        self,
        letters: DeadLetterStore,
        seen: SeenEvents,
        applier: Applier | None,
        *,
        limits: Limits = DEFAULT_LIMITS,
        batch_size: int = 500,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.letters, self.seen, self.applier = letters, seen, applier
        self.limits, self.batch_size, self.clock = limits, batch_size, clock

    def select(self, selection: Selection, fixes: Mapping[int, bytes] | None = None) -> list[DeadLetter]:
        """The records to replay. With ``fixes``, only their ids (within ``selection``); raises
        :class:`InvalidInput` when a fixed id is not in the store at all."""
        if fixes is not None:
            ids = set(fixes) if selection.ids is None else set(fixes) & set(selection.ids)
            every = {r.id for r in self.letters.select(Selection(ids=sorted(set(fixes)), replayed=None))}
            unknown = sorted(set(fixes) - every)
            if unknown:
                shown = ", ".join(map(str, unknown[:10])) + (" ..." if len(unknown) > 10 else "")
                raise InvalidInput(f"--input names dead-letter ids not in the store: {shown}")
            selection = Selection(
                selection.reason, selection.since, sorted(ids), selection.replayed, selection.limit
            )
        return self.letters.select(selection)

    def run(
        self,
        records: Sequence[DeadLetter],
        fixes: Mapping[int, bytes] | None = None,
        *,
        dry_run: bool = False,
        progress: Progress | None = None,
    ) -> ReplayReport:
        """Replay ``records`` in order, ``batch_size`` at a time, marking each batch once it is sent."""
        if not dry_run and self.applier is None:
            raise ValueError("a replay that writes needs an applier")
        report = ReplayReport(dry_run=dry_run)
        planned: set[str] = set()
        for start in range(0, len(records), self.batch_size):
            batch = records[start : start + self.batch_size]
            report.attempts.extend(self._batch(batch, fixes or {}, planned, dry_run))
            if progress is not None:
                progress(min(start + self.batch_size, len(records)), len(records))
        return report

    def _batch(
        self, batch: Sequence[DeadLetter], fixes: Mapping[int, bytes], planned: set[str], dry_run: bool
    ) -> list[Attempt]:
        decided: list[tuple[DeadLetter, bytes, bool, Event | InvalidRecord]] = []
        for record in batch:
            payload = record.raw.encode()
            if record.id is not None and record.id in fixes:
                payload = fixes[record.id]
            fixed = payload != record.raw.encode()  # a "fix" that changes nothing is the record as is
            try:
                result: Event | InvalidRecord = parse_event(payload, self.limits)
            except InvalidRecord as exc:
                result = exc
            decided.append((record, payload, fixed, result))
        events = [r for *_, r in decided if isinstance(r, Event)]
        fresh = iter(self.seen.filter_new([e.event_id for e in events]))
        attempts: list[Attempt] = []
        to_send: list[tuple[Record, Event]] = []
        letters: list[DeadLetter] = []
        letter_keys: list[str] = []
        sent = self.applier.outcome if self.applier is not None else Outcome.APPLIED
        now = self.clock()
        for record, payload, fixed, result in decided:
            if isinstance(result, InvalidRecord):
                new = False
                if fixed:
                    key = f"deadletter:{SOURCE}#{record.id}:{hashlib.sha256(payload).hexdigest()[:16]}"
                    if self.seen.filter_new([key])[0]:
                        new = True
                        detail = f"replay of dead letter #{record.id}: {result.detail}"
                        text = payload.decode("utf-8", "replace")
                        letters.append(
                            DeadLetter(text, result.reason, detail, f"{SOURCE}#{record.id}", None, now)
                        )
                        letter_keys.append(key)
                attempts.append(
                    Attempt(record, Outcome.INVALID, fixed, None, result.reason, result.detail, new)
                )
                continue
            new_event = next(fresh) and result.event_id not in planned
            if new_event:
                planned.add(result.event_id)
                to_send.append((Record(str(record.id), payload), result))
            outcome = sent if new_event else Outcome.DUPLICATE
            attempts.append(Attempt(record, outcome, fixed, result.event_id))
        if dry_run or self.applier is None:
            return attempts
        if letters:
            self.letters.put(letters)
            self.seen.mark_seen(letter_keys)
        if to_send:
            self.applier.send([r for r, _ in to_send], [e for _, e in to_send])
        marks = {a.record.id: a.mark for a in attempts if a.record.id is not None}
        self.letters.mark_replayed(marks, self.clock())
        return attempts
