"""Streaming readers for the DESIGN §3 formats.

``iter_batches`` walks a file (plain or ``.gz``) line by line and yields :class:`RowBatch` objects of at
most ``batch_lines`` lines, so memory stays bounded whatever the file size. Every line is accounted for:
it is a comment/blank line, a parsed row, or a :class:`Rejected` record with a reason code from
:class:`~pymk.events.validation.Reason`.

Error policy (``on_error``): ``"raise"`` stops at the first malformed line with an
:class:`~pymk.errors.InvalidRecord` naming file, line number and problem; ``"skip"`` records it in
``RowBatch.rejected`` and goes on. Self-loops in the edge-list formats are not malformed — SNAP files
contain them legitimately — so they are always returned as rejected (reason ``self_edge``) and never stop
a read.
"""

from __future__ import annotations

import csv
import gzip
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, cast

import numpy as np

from pymk.errors import InvalidRecord
from pymk.events.schema import EventType
from pymk.events.validation import DEFAULT_LIMITS, MAX_TS, MIN_TS, Limits, Reason, parse_event
from pymk.io.formats import ROW_TYPE, SHAPE, Format

OnError = Literal["raise", "skip"]


@dataclass(frozen=True, slots=True)
class Rejected:
    """One input line that did not become a row, with why."""

    line: int
    raw: str
    reason: str
    detail: str


@dataclass(slots=True)
class RowBatch:
    """Parsed rows of one stretch of a file, in file order; all lists have the same length.

    ``ts`` is UNIX seconds (float64), NaN where the format carries no time (snap-static).
    ``event_id`` is the id given in the file (events-jsonl) or ``None``.
    """

    line: list[int] = field(default_factory=list)
    actor: list[str] = field(default_factory=list)
    target: list[str | None] = field(default_factory=list)
    ts: list[float] = field(default_factory=list)
    type: list[EventType] = field(default_factory=list)
    event_id: list[str | None] = field(default_factory=list)
    props: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.line)

    def ts_array(self) -> np.ndarray:
        """``ts`` as a float64 array."""
        return np.asarray(self.ts, dtype=np.float64)


def open_text_lines(path: Path) -> IO[bytes]:
    """Open ``path`` for binary line reading, transparently un-gzipping (by magic bytes, not name)."""
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return open(path, "rb")


def _bad(reason: Reason, detail: str) -> InvalidRecord:
    return InvalidRecord(reason.value, detail)


def _user(text: str, name: str, limits: Limits) -> str:
    if not text:
        raise _bad(Reason.EMPTY_ID, f"{name} is empty")
    if len(text) > limits.max_id_length:
        raise _bad(Reason.ID_TOO_LONG, f"{name} has {len(text)} characters, more than {limits.max_id_length}")
    return text


def _number(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _bad(Reason.BAD_LINE, f"{name} is not a number: {text[:40]!r}") from None
    if not math.isfinite(value):
        raise _bad(Reason.BAD_LINE, f"{name} is not a finite number: {text[:40]!r}")
    return value


def _timestamp(text: str) -> float:
    ts = _number(text, "unix_ts")
    if not MIN_TS <= ts < MAX_TS:
        raise _bad(Reason.TIMESTAMP_OUT_OF_RANGE, f"unix_ts {text[:40]} is outside 1970-01-01 .. 2100-01-01")
    return ts


class _EdgeParser:
    """Turns the fields of one edge-list line into ``(actor, target, ts, props)``."""

    def __init__(self, fmt: Format, limits: Limits) -> None:
        self.fmt = fmt
        self.limits = limits
        self.columns: dict[str, int] | None = None  # edges-csv header positions
        self.seen_row = False

    def header(self, fields: list[str]) -> bool:
        """Consume ``fields`` as a header line if it is one; raise when a required header is missing."""
        if self.fmt is Format.EDGES_CSV and self.columns is None:
            names = [f.strip().lower() for f in fields]
            if "src" not in names or "dst" not in names:
                raise _bad(Reason.BAD_LINE, f"edges-csv needs a header naming src and dst, got {fields[:6]}")
            self.columns = {n: names.index(n) for n in ("src", "dst", "ts") if n in names}
            return True
        if self.fmt is Format.BITCOIN_CSV and not self.seen_row and len(fields) == 4:
            try:
                float(fields[3])
            except ValueError:
                return True  # a header line such as "source,target,rating,time"
        return False

    def row(self, fields: list[str]) -> tuple[str, str, float, dict[str, Any]]:
        fmt, limits = self.fmt, self.limits
        props: dict[str, Any] = {}
        if fmt is Format.EDGES_CSV:
            assert self.columns is not None
            need = max(self.columns.values()) + 1
            if len(fields) < need:
                raise _bad(
                    Reason.BAD_LINE, f"expected at least {need} fields as the header says, got {len(fields)}"
                )
            src, dst = fields[self.columns["src"]].strip(), fields[self.columns["dst"]].strip()
            ts_col = self.columns.get("ts")
            ts = _timestamp(fields[ts_col].strip()) if ts_col is not None else math.nan
        else:
            want = {Format.SNAP_TEMPORAL: 3, Format.SNAP_STATIC: 2, Format.BITCOIN_CSV: 4}[fmt]
            if len(fields) != want:
                raise _bad(Reason.BAD_LINE, f"expected {want} fields ({SHAPE[fmt]}), got {len(fields)}")
            src, dst = fields[0].strip(), fields[1].strip()
            if fmt is Format.SNAP_STATIC:
                ts = math.nan
            else:
                ts = _timestamp(fields[-1].strip())
            if fmt is Format.BITCOIN_CSV:
                props["rating"] = _number(fields[2].strip(), "rating")
        self.seen_row = True
        return _user(src, "src", limits), _user(dst, "dst", limits), ts, props


def _split(fmt: Format, text: str) -> list[str]:
    if fmt is Format.EDGES_CSV:
        return next(csv.reader([text]))
    if fmt is Format.BITCOIN_CSV:
        return text.split(",")
    return text.split()


def iter_batches(
    path: Path,
    fmt: Format,
    *,
    on_error: OnError = "raise",
    batch_lines: int = 65_536,
    limits: Limits = DEFAULT_LIMITS,
) -> Iterator[RowBatch]:
    """Yield the rows of ``path`` in file order, ``batch_lines`` input lines per batch at most.

    Raises :class:`InvalidRecord` (with ``source`` and ``line`` set) on the first malformed line when
    ``on_error="raise"``; raises ``FileNotFoundError``/``OSError`` for unreadable files.
    """
    source = str(path)
    parser = _EdgeParser(fmt, limits) if fmt is not Format.EVENTS_JSONL else None
    batch = RowBatch()
    taken = 0
    with open_text_lines(path) as handle:
        for lineno, raw in enumerate(handle, start=1):
            taken += 1
            try:
                text = raw.decode("utf-8").strip()
            except UnicodeDecodeError as exc:
                text = raw.decode("utf-8", errors="replace").strip()
                error: InvalidRecord | None = _bad(Reason.BAD_LINE, f"not UTF-8 text ({exc.reason})")
            else:
                error = None
            if error is None and (not text or text[0] in "#%"):
                pass
            elif error is None:
                try:
                    if parser is None:
                        event = parse_event(text, limits)
                        batch.line.append(lineno)
                        batch.actor.append(event.actor)
                        batch.target.append(event.target)
                        batch.ts.append(event.ts)
                        batch.type.append(event.type)
                        batch.event_id.append(event.event_id)
                        batch.props.append(event.props)
                    else:
                        fields = _split(fmt, text)
                        if not parser.header(fields):
                            src, dst, ts, props = parser.row(fields)
                            if src == dst:
                                # Not malformed: recorded as rejected, never stops the read.
                                batch.rejected.append(
                                    Rejected(
                                        lineno, text, Reason.SELF_EDGE.value, f"self-loop of user {src!r}"
                                    )
                                )
                            else:
                                batch.line.append(lineno)
                                batch.actor.append(src)
                                batch.target.append(dst)
                                batch.ts.append(ts)
                                batch.type.append(ROW_TYPE[fmt])
                                batch.event_id.append(None)
                                batch.props.append(props)
                except InvalidRecord as exc:
                    error = exc
            if error is not None:
                if on_error == "raise":
                    raise InvalidRecord(error.reason, error.detail, source=source, line=lineno)
                batch.rejected.append(Rejected(lineno, text[:10_000], error.reason, error.detail))
            if taken >= batch_lines:
                yield batch
                batch, taken = RowBatch(), 0
    if taken:
        yield batch
