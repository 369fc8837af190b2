"""The dead-letter store: where every rejected record goes, with why (DESIGN §2, "nothing lost").

A :class:`DeadLetter` is the raw text as received, a stable reason code
(:class:`~pymk.events.validation.Reason`), a human detail, where it came from (file or stream name and
line number) and when it was received (UNIX seconds, UTC). Stores are append-only; operators read them
with ``pymk deadletter``. Implementations: :class:`MemoryDeadLetterStore` (tests),
:class:`SqliteDeadLetterStore` (embedded default, under ``PYMK_HOME``) and
:class:`~pymk.events.deadletter_postgres.PostgresDeadLetterStore` (production). Build one from a URL with
:func:`pymk.stores.open_deadletter`.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pymk.events._sqlite import open_sqlite


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One rejected record.

    ``raw`` is the record as received (a file line without its line break, or a request item);
    ``reason`` a :class:`~pymk.events.validation.Reason` code; ``line`` the 1-based line number in
    ``source`` when the record came from a file; ``received_at`` UNIX seconds, UTC.
    """

    raw: str
    reason: str
    detail: str
    source: str | None = None
    line: int | None = None
    received_at: float = field(default_factory=time.time)


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
        self._records.extend(records)
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


class SqliteDeadLetterStore:
    """Embedded store in one SQLite file (the default, ``sqlite:///deadletter.sqlite`` under PYMK_HOME)."""

    def __init__(self, path: Path) -> None:
        self._conn = open_sqlite(path)
        self._lock = threading.Lock()
        with self._lock, self._conn:
            self._conn.executescript(_SCHEMA)

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
        sql = f"SELECT {_COLUMNS} FROM deadletter {where} ORDER BY id DESC LIMIT ? OFFSET ?"
        with self._lock:
            rows = self._conn.execute(sql, [*args, limit, offset]).fetchall()
        return [DeadLetter(*row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
