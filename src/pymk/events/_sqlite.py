"""One way to open the embedded SQLite stores (dead letters, seen event ids)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_sqlite(path: Path) -> sqlite3.Connection:
    """Open (creating parents) a SQLite file tuned for many small writers and batch writes.

    WAL lets readers (``pymk deadletter``) run while an import writes; ``synchronous=NORMAL`` keeps a
    committed transaction durable across a process crash (not across power loss), which is what an
    idempotent re-import needs. Callers write inside ``with conn:`` (one transaction, committed or rolled
    back as a whole). It may be used from several threads, one at a time (callers hold a lock).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30.0, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA cache_size=-65536")  # 64 MiB: batch lookups of 300k keys stay in cache
    return conn
