"""PostgreSQL dead-letter store (production): ``postgresql://user@host:port/db``.

Writes go through ``COPY ... FROM STDIN`` in one transaction, so a batch of rejects costs one round
trip and lands all or none. Needs the ``services`` extra (psycopg 3).

Migration: a table made by an older pymk lacks the replay columns (``replayed_at``, ``replay_outcome``);
opening the store adds them (``ADD COLUMN IF NOT EXISTS``, nullable without default: PostgreSQL changes
only the catalog, no table rewrite; it takes a brief exclusive lock, so the check runs first and the
``ALTER`` only when a column is missing).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg

from pymk.errors import ServiceUnavailable
from pymk.events.deadletter import (
    REPLAY_COLUMNS,
    DeadLetter,
    DeadLetters,
    Selection,
    _sorted_counts,
    _where,
)

_TABLE = "pymk_deadletter"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {_TABLE} (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at TIMESTAMPTZ NOT NULL,
    source TEXT,
    line BIGINT,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    raw TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS {_TABLE}_reason ON {_TABLE} (reason, id);
"""
_SELECT = (
    "raw, reason, detail, source, line, extract(epoch FROM received_at)::float8, id,"
    " extract(epoch FROM replayed_at)::float8, replay_outcome"
)
_HAVE_COLUMNS = (
    "SELECT column_name FROM information_schema.columns"
    " WHERE table_schema = current_schema() AND table_name = %s"
)


def _text(value: str) -> str:
    # PostgreSQL text cannot hold NUL; a raw line with one must still be stored, recognisably.
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def _letter(row: tuple[Any, ...]) -> DeadLetter:
    raw, reason, detail, source, line, at, record_id, replayed_at, outcome = row
    replayed = None if replayed_at is None else float(replayed_at)
    return DeadLetter(raw, reason, detail, source, line, float(at), record_id, replayed, outcome)


class PostgresDeadLetterStore:
    """Dead letters in table ``pymk_deadletter`` of the database (and ``search_path``) ``dsn`` names."""

    def __init__(self, dsn: str) -> None:
        try:
            self._conn = psycopg.connect(dsn, autocommit=True)
        except psycopg.OperationalError as exc:
            raise ServiceUnavailable(f"cannot connect to PostgreSQL: {str(exc).strip()}") from exc
        self._lock = threading.Lock()
        with self._lock, self._conn.transaction():
            self._conn.execute(_SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Add the replay columns a table made by an older pymk lacks (see the module doc)."""
        with self._lock:
            have = {row[0] for row in self._conn.execute(_HAVE_COLUMNS, (_TABLE,)).fetchall()}
            missing = [(name, pg) for name, _sqlite, pg in REPLAY_COLUMNS if name not in have]
            if missing:
                adds = ", ".join(f"ADD COLUMN IF NOT EXISTS {name} {pg}" for name, pg in missing)
                self._conn.execute(f"ALTER TABLE {_TABLE} {adds}")

    def put(self, records: Sequence[DeadLetter]) -> None:
        if not records:
            return
        copy_sql = f"COPY {_TABLE} (raw, reason, detail, source, line, received_at) FROM STDIN"
        with self._lock, self._conn.transaction(), self._conn.cursor() as cur, cur.copy(copy_sql) as copy:
            for r in records:
                when = datetime.fromtimestamp(r.received_at, UTC)
                source = _text(r.source) if r.source is not None else None
                copy.write_row((_text(r.raw), _text(r.reason), _text(r.detail), source, r.line, when))

    def count(self, reason: str | None = None) -> int:
        with self._lock:
            if reason is None:
                row = self._conn.execute(f"SELECT count(*) FROM {_TABLE}").fetchone()
            else:
                row = self._conn.execute(
                    f"SELECT count(*) FROM {_TABLE} WHERE reason = %s", (reason,)
                ).fetchone()
        return int(row[0]) if row else 0

    def counts_by_reason(self) -> dict[str, int]:
        with self._lock:
            rows = self._conn.execute(f"SELECT reason, count(*) FROM {_TABLE} GROUP BY reason").fetchall()
        return _sorted_counts([(str(k), int(v)) for k, v in rows])

    def list(self, limit: int = 100, offset: int = 0, reason: str | None = None) -> DeadLetters:
        where, args = ("WHERE reason = %s", [reason]) if reason is not None else ("", [])
        sql = f"SELECT {_SELECT} FROM {_TABLE} {where} ORDER BY id DESC LIMIT %s OFFSET %s"
        with self._lock:
            rows = self._conn.execute(sql, [*args, limit, offset]).fetchall()
        return [_letter(row) for row in rows]

    def select(self, selection: Selection) -> DeadLetters:
        where, args = _where(selection, "%s")
        if selection.since is not None:
            where = f"{where} {'AND' if where else 'WHERE'} received_at >= %s"
            args.append(datetime.fromtimestamp(selection.since, UTC))
        sql = f"SELECT {_SELECT} FROM {_TABLE} {where} ORDER BY id LIMIT %s"
        with self._lock:
            rows = self._conn.execute(sql, [*args, selection.limit]).fetchall()
        return [_letter(row) for row in rows]

    def mark_replayed(self, outcomes: Mapping[int, str], at: float) -> None:
        if not outcomes:
            return
        when = datetime.fromtimestamp(at, UTC)
        rows = [(when, outcome, record_id) for record_id, outcome in outcomes.items()]
        sql = f"UPDATE {_TABLE} SET replayed_at = %s, replay_outcome = %s WHERE id = %s"
        with self._lock, self._conn.transaction(), self._conn.cursor() as cur:
            cur.executemany(sql, rows)

    def replayed_by_reason(self) -> dict[str, int]:
        sql = f"SELECT reason, count(*) FROM {_TABLE} WHERE replayed_at IS NOT NULL GROUP BY reason"
        with self._lock:
            rows = self._conn.execute(sql).fetchall()
        return _sorted_counts([(str(k), int(v)) for k, v in rows])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
