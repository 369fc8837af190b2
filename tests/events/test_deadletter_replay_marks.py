"""The replay side of the dead-letter contract (ids, selection, replay marks) and the migration of
stores made before replay existed, on every store: memory, SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pymk.events.deadletter import (
    DeadLetter,
    DeadLetterStore,
    MemoryDeadLetterStore,
    Selection,
    SqliteDeadLetterStore,
)

pytestmark = pytest.mark.contract

Opener = Callable[[], DeadLetterStore]


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    opened: list[DeadLetterStore] = []
    memory = MemoryDeadLetterStore()

    def opener() -> DeadLetterStore:
        if request.param == "memory":
            return memory
        if request.param == "sqlite":
            opened.append(SqliteDeadLetterStore(tmp_path / "deadletter.sqlite"))
        else:
            from pymk.events.deadletter_postgres import PostgresDeadLetterStore

            opened.append(PostgresDeadLetterStore(request.getfixturevalue("postgres_dsn")))
        return opened[-1]

    yield opener
    for store in opened:
        store.close()


def letter(n: int, reason: str = "bad_json") -> DeadLetter:
    return DeadLetter(f"raw {n}", reason, f"detail {n}", "s", n, 1_700_000_000.0 + n)


def test_ids_increase_in_storage_order_and_list_carries_them(open_store: Opener) -> None:
    store = open_store()
    store.put([letter(1), letter(2)])
    store.put([letter(3, "self_edge")])
    newest_first = store.list()
    ids = [r.id for r in newest_first]
    assert all(isinstance(i, int) for i in ids) and ids == sorted(ids, key=lambda i: -(i or 0))
    assert [r.line for r in newest_first] == [3, 2, 1]
    assert all(r.replayed_at is None and r.replay_outcome is None for r in newest_first)


def test_select_filters_oldest_first(open_store: Opener) -> None:
    store = open_store()
    store.put([letter(n, "self_edge" if n % 2 else "bad_json") for n in range(1, 9)])
    every = store.select(Selection())
    assert [r.line for r in every] == list(range(1, 9))
    by_line = {r.line: int(r.id or 0) for r in every}
    assert [r.line for r in store.select(Selection(reason="self_edge"))] == [1, 3, 5, 7]
    assert [r.line for r in store.select(Selection(reason="self_edge", limit=2))] == [1, 3]
    assert [r.line for r in store.select(Selection(since=1_700_000_006.0))] == [6, 7, 8]
    picked = Selection(ids=[by_line[2], by_line[5], 10_000])
    assert [r.line for r in store.select(picked)] == [2, 5]
    assert store.select(Selection(ids=[])) == []
    assert store.select(Selection(reason="nope")) == []


def test_mark_replayed_sets_both_columns_and_selection_honours_them(open_store: Opener) -> None:
    store = open_store()
    store.put([letter(n) for n in range(1, 5)])
    ids = [int(r.id or 0) for r in store.select(Selection())]
    assert all(ids)
    first, second = ids[0], ids[1]
    store.mark_replayed(
        {first: "applied", second: "invalid:bad_timestamp", 99_999: "applied"}, 1_800_000_000.5
    )
    fresh = store.select(Selection())
    assert [r.id for r in fresh] == ids[2:]
    done = store.select(Selection(replayed=True))
    assert [(r.id, r.replay_outcome) for r in done] == [(first, "applied"), (second, "invalid:bad_timestamp")]
    assert all(r.replayed_at == pytest.approx(1_800_000_000.5, abs=1e-3) for r in done)
    assert len(store.select(Selection(replayed=None))) == 4
    assert store.replayed_by_reason() == {"bad_json": 2}
    assert store.count() == 4  # marking deletes nothing
    store.mark_replayed({first: "duplicate"}, 1_800_000_100.0)  # a replay --again overwrites the mark
    again = {r.id: r for r in store.select(Selection(replayed=True))}
    assert again[first].replay_outcome == "duplicate"
    assert again[first].replayed_at == pytest.approx(1_800_000_100.0, abs=1e-3)


_OLD_SQLITE = """
CREATE TABLE deadletter (id INTEGER PRIMARY KEY, received_at REAL NOT NULL, source TEXT, line INTEGER,
    reason TEXT NOT NULL, detail TEXT NOT NULL, raw TEXT NOT NULL);
CREATE INDEX deadletter_reason ON deadletter (reason, id);
INSERT INTO deadletter (received_at, source, line, reason, detail, raw)
    VALUES (1700000000.0, 'old.txt', 7, 'bad_line', 'd', 'old raw');
"""


def test_sqlite_store_made_before_replay_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "deadletter.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(_OLD_SQLITE)
    conn.close()
    store = SqliteDeadLetterStore(path)
    [old] = store.select(Selection())
    assert (old.raw, old.line, old.replayed_at) == ("old raw", 7, None)
    assert old.id is not None
    store.mark_replayed({old.id: "applied"}, 1_800_000_000.0)
    store.close()
    again = SqliteDeadLetterStore(path)  # a second open finds the columns and changes nothing
    assert [r.replay_outcome for r in again.select(Selection(replayed=True))] == ["applied"]
    again.close()


@pytest.mark.integration
def test_postgres_store_made_before_replay_is_migrated(postgres_dsn: str) -> None:
    psycopg = pytest.importorskip("psycopg")
    from pymk.events.deadletter_postgres import PostgresDeadLetterStore

    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(
            """CREATE TABLE pymk_deadletter (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
               received_at TIMESTAMPTZ NOT NULL, source TEXT, line BIGINT, reason TEXT NOT NULL,
               detail TEXT NOT NULL, raw TEXT NOT NULL)"""
        )
        conn.execute(
            "INSERT INTO pymk_deadletter (received_at, source, line, reason, detail, raw)"
            " VALUES (to_timestamp(1700000000), 'old.txt', 7, 'bad_line', 'd', 'old raw')"
        )
    store = PostgresDeadLetterStore(postgres_dsn)
    [old] = store.select(Selection())
    assert (old.raw, old.line, old.replayed_at, old.received_at) == ("old raw", 7, None, 1_700_000_000.0)
    assert old.id is not None
    store.mark_replayed({old.id: "published"}, 1_800_000_000.0)
    store.close()
    again = PostgresDeadLetterStore(postgres_dsn)
    assert [r.replay_outcome for r in again.select(Selection(replayed=True))] == ["published"]
    again.close()
