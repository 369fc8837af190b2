"""The dead-letter store: where every rejected record goes, with why (DESIGN §2, "nothing lost").

A :class:`DeadLetter` is the raw text as received, a stable reason code
(:class:`~pymk.events.validation.Reason`), a human detail, where it came from (file or stream name and
line number) and when it was received (UNIX seconds, UTC). Stores are append-only, except for the
replay mark: ``pymk deadletter replay`` sets ``replayed_at`` and ``replay_outcome`` of a record once its
event was accepted (applied, published) or found a duplicate, or the record was re-dead-lettered; nothing
is ever deleted. Operators read them with ``pymk deadletter``. Implementations:
:class:`MemoryDeadLetterStore` (tests), :class:`SqliteDeadLetterStore` (embedded default, under
``PYMK_HOME``) and :class:`~pymk.events.deadletter_postgres.PostgresDeadLetterStore` (production).
Build one from a URL with :func:`pymk.stores.open_deadletter`.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from pymk.events._sqlite import open_sqlite

#: Columns added after the first release: (name, SQLite type, PostgreSQL type). Stores add the missing
#: ones when they open (nullable, no default: a metadata-only change on both engines).
REPLAY_COLUMNS = (("replayed_at", "REAL", "TIMESTAMPTZ"), ("replay_outcome", "TEXT", "TEXT"))


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One rejected record.

    ``raw`` is the record as received (a file line without its line break, or a request item);
    ``reason`` a :class:`~pymk.events.validation.Reason` code; ``line`` the 1-based line number in
    ``source`` when the record came from a file; ``received_at`` UNIX seconds, UTC.

    Set by the store, ignored by ``put`` and by equality: ``id`` (increasing in storage order, stable),
    ``replayed_at`` (UNIX seconds, UTC; ``None``: never replayed) and ``replay_outcome`` (what the last
    replay did: ``applied``, ``published``, ``duplicate`` or ``invalid:<reason>``).
    """

    raw: str
    reason: str
    detail: str
    source: str | None = None
    line: int | None = None
    received_at: float = field(default_factory=time.time)
    id: int | None = field(default=None, compare=False)
    replayed_at: float | None = field(default=None, compare=False)
    replay_outcome: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Selection:
    """Which records :meth:`DeadLetterStore.select` returns: all conditions given must hold.

    ``reason``: that reason code; ``since``: received at or after (UNIX seconds, UTC); ``ids``: one of
    these record ids; ``replayed``: ``False`` only records never replayed, ``True`` only replayed ones,
    ``None`` both; ``limit``: at most this many (the oldest).
    """

    reason: str | None = None
    since: float | None = None
    ids: Sequence[int] | None = None
    replayed: bool | None = False
    limit: int | None = None

    def matches(self, record: DeadLetter) -> bool:
        """Whether ``record`` (with its store fields set) meets every condition but ``limit``."""
        return (
            (self.reason is None or record.reason == self.reason)
            and (self.since is None or record.received_at >= self.since)
            and (self.ids is None or record.id in set(self.ids))
            and (self.replayed is None or (record.replayed_at is not None) == self.replayed)
        )


#: What :meth:`DeadLetterStore.list` returns (named so the method name does not shadow ``list``).
DeadLetters = list[DeadLetter]


class DeadLetterStore(Protocol):
    """Append-only store of rejected records. Every method is safe to call from one thread at a time."""

    def put(self, records: Sequence[DeadLetter]) -> None:
        """Append ``records`` atomically (all or none), keeping their order."""
        ...

    def count(self, reason: str | None = None) -> int:
        """How many records are stored, or how many with ``reason``."""
        ...

    def counts_by_reason(self) -> dict[str, int]:
        """``{reason: count}`` for every reason present, most frequent first."""
        ...

    def list(self, limit: int = 100, offset: int = 0, reason: str | None = None) -> DeadLetters:
        """The most recently stored records first (optionally only ``reason``), paged by limit/offset."""
        ...

    def select(self, selection: Selection) -> DeadLetters:
        """The records ``selection`` names, oldest first (increasing ``id``), with their store fields."""
        ...

    def mark_replayed(self, outcomes: Mapping[int, str], at: float) -> None:
        """Set ``replay_outcome`` of each record id in ``outcomes`` and ``replayed_at = at`` (UNIX seconds),
        atomically (all or none). Ids not in the store are ignored."""
        ...

    def replayed_by_reason(self) -> dict[str, int]:
        """``{reason: count}`` of the records replayed at least once (reasons with none are absent)."""
        ...

    def close(self) -> None:
        """Release connections. The store must not be used afterwards."""
        ...


def _sorted_counts(pairs: Sequence[tuple[str, int]]) -> dict[str, int]:
    return dict(sorted(pairs, key=lambda kv: (-kv[1], kv[0])))


class MemoryDeadLetterStore:
    """In-process store (``memory://``): for tests and throw-away runs; lost when the process exits."""

    def __init__(self) -> None:
        self._records: list[DeadLetter] = []
        self._counts: Counter[str] = Counter()

    def put(self, records: Sequence[DeadLetter]) -> None:
        start = len(self._records) + 1
        self._records.extend(
            replace(r, id=start + i, replayed_at=None, replay_outcome=None) for i, r in enumerate(records)
        )
        self._counts.update(r.reason for r in records)

    def count(self, reason: str | None = None) -> int:
        return len(self._records) if reason is None else self._counts[reason]

    def counts_by_reason(self) -> dict[str, int]:
        return _sorted_counts([(k, v) for k, v in self._counts.items() if v])

    def list(self, limit: int = 100, offset: int = 0, reason: str | None = None) -> DeadLetters:
        newest_first = (r for r in reversed(self._records) if reason is None or r.reason == reason)
        out: DeadLetters = []
        for i, record in enumerate(newest_first):
            if i >= offset + limit:
                break
            if i >= offset:
                out.append(record)
        return out

    def select(self, selection: Selection) -> DeadLetters:
        chosen = [r for r in self._records if selection.matches(r)]
        return chosen if selection.limit is None else chosen[: selection.limit]

    def mark_replayed(self, outcomes: Mapping[int, str], at: float) -> None:
        for record_id, outcome in outcomes.items():
            if 1 <= record_id <= len(self._records):
                old = self._records[record_id - 1]
                self._records[record_id - 1] = replace(old, replayed_at=at, replay_outcome=outcome)

    def replayed_by_reason(self) -> dict[str, int]:
        return _sorted_counts(list(Counter(r.reason for r in self._records if r.replayed_at).items()))

    def close(self) -> None:
        pass


_SCHEMA = """
CREATE TABLE IF NOT EXISTS deadletter (
    id INTEGER PRIMARY KEY,
    received_at REAL NOT NULL,
    source TEXT,
    line INTEGER,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    raw TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deadletter_reason ON deadletter (reason, id);
"""
_COLUMNS = "raw, reason, detail, source, line, received_at"
_SELECT = f"{_COLUMNS}, id, replayed_at, replay_outcome"


def _sqlite_migrate(conn: sqlite3.Connection) -> None:
    """Add the columns of :data:`REPLAY_COLUMNS` a store made by an older pymk lacks. Safe to run from
    several processes at once: a column another one just added is not an error."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(deadletter)")}
    for name, sql_type, _pg_type in REPLAY_COLUMNS:
        if name in have:
            continue
        try:
            with conn:
                conn.execute(f"ALTER TABLE deadletter ADD COLUMN {name} {sql_type}")
        except sqlite3.OperationalError as exc:
            if "duplicate column" not in str(exc):
                raise


def _where(selection: Selection, mark: str) -> tuple[str, list[object]]:
    """SQL condition and arguments of ``selection`` (``mark``: the placeholder, ``?`` or ``%s``)."""
    parts: list[str] = []
    args: list[object] = []
    if selection.reason is not None:
        parts.append(f"reason = {mark}")
        args.append(selection.reason)
    if selection.ids is not None:
        ids = sorted(set(selection.ids))
        if not ids:
            return "WHERE FALSE", []
        parts.append(f"id IN ({', '.join([mark] * len(ids))})")
        args.extend(ids)
    if selection.replayed is not None:
        parts.append("replayed_at IS NOT NULL" if selection.replayed else "replayed_at IS NULL")
    return ("WHERE " + " AND ".join(parts) if parts else ""), args


class SqliteDeadLetterStore:
    """Embedded store in one SQLite file (the default, ``sqlite:///deadletter.sqlite`` under PYMK_HOME)."""

    def __init__(self, path: Path) -> None:
        self._conn = open_sqlite(path)
        self._lock = threading.Lock()
        with self._lock:
            with self._conn:
                self._conn.executescript(_SCHEMA)
            _sqlite_migrate(self._conn)

    def put(self, records: Sequence[DeadLetter]) -> None:
        rows = [(r.raw, r.reason, r.detail, r.source, r.line, r.received_at) for r in records]
        with self._lock, self._conn:
            self._conn.executemany(f"INSERT INTO deadletter ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", rows)

    def count(self, reason: str | None = None) -> int:
        with self._lock:
            if reason is None:
                row = self._conn.execute("SELECT count(*) FROM deadletter").fetchone()
            else:
                row = self._conn.execute(
                    "SELECT count(*) FROM deadletter WHERE reason = ?", (reason,)
                ).fetchone()
        return int(row[0])

    def counts_by_reason(self) -> dict[str, int]:
        with self._lock:
            rows = self._conn.execute("SELECT reason, count(*) FROM deadletter GROUP BY reason").fetchall()
        return _sorted_counts([(str(k), int(v)) for k, v in rows])

    def list(self, limit: int = 100, offset: int = 0, reason: str | None = None) -> DeadLetters:
        where, args = ("WHERE reason = ?", [reason]) if reason is not None else ("", [])
        sql = f"SELECT {_SELECT} FROM deadletter {where} ORDER BY id DESC LIMIT ? OFFSET ?"
        with self._lock:
            rows = self._conn.execute(sql, [*args, limit, offset]).fetchall()
        return [DeadLetter(*row) for row in rows]

    def select(self, selection: Selection) -> DeadLetters:
        where, args = _where(selection, "?")
        if selection.since is not None:
            where = f"{where} {'AND' if where else 'WHERE'} received_at >= ?"
            args.append(selection.since)
        sql = f"SELECT {_SELECT} FROM deadletter {where} ORDER BY id LIMIT ?"
        with self._lock:
            rows = self._conn.execute(sql, [*args, -1 if selection.limit is None else selection.limit])
            return [DeadLetter(*row) for row in rows.fetchall()]

    def mark_replayed(self, outcomes: Mapping[int, str], at: float) -> None:
        rows = [(at, outcome, record_id) for record_id, outcome in outcomes.items()]
        with self._lock, self._conn:
            self._conn.executemany(
                "UPDATE deadletter SET replayed_at = ?, replay_outcome = ? WHERE id = ?", rows
            )

    def replayed_by_reason(self) -> dict[str, int]:
        sql = "SELECT reason, count(*) FROM deadletter WHERE replayed_at IS NOT NULL GROUP BY reason"
        with self._lock:
            rows = self._conn.execute(sql).fetchall()
        return _sorted_counts([(str(k), int(v)) for k, v in rows])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
