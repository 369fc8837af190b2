"""PostgreSQL dead-letter store (production): ``postgresql://user@host:port/db``.

Writes go through ``COPY ... FROM STDIN`` in one transaction, so a batch of rejects costs one round
trip and lands all or none. Needs the ``services`` extra (psycopg 3).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime

import psycopg

from pymk.errors import ServiceUnavailable
from pymk.events.deadletter import DeadLetter, DeadLetters, _sorted_counts

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
_SELECT = "raw, reason, detail, source, line, extract(epoch FROM received_at)::float8"


def _text(value: str) -> str:
    # PostgreSQL text cannot hold NUL; a raw line with one must still be stored, recognisably.
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


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
        return [
            DeadLetter(raw, reason_, detail, source, line, float(at))
            for raw, reason_, detail, source, line, at in rows
        ]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
