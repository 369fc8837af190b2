"""One contract for every dead-letter store: memory, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pymk.events.deadletter import DeadLetter, DeadLetterStore, MemoryDeadLetterStore, SqliteDeadLetterStore

pytestmark = pytest.mark.contract


@dataclass
class Backend:
    """The store under test: ``open()`` opens the same underlying storage each time (memory: the
    same object)."""

    open: Callable[[], DeadLetterStore]


@pytest.fixture(
    params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.integration)],
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    opened: list[DeadLetterStore] = []
    if request.param == "memory":
        memory = MemoryDeadLetterStore()

        def opener() -> DeadLetterStore:
            return memory
    elif request.param == "sqlite":

        def opener() -> DeadLetterStore:
            opened.append(SqliteDeadLetterStore(tmp_path / "deadletter.sqlite"))
            return opened[-1]
    else:
        from pymk.events.deadletter_postgres import PostgresDeadLetterStore

        dsn = request.getfixturevalue("postgres_dsn")

        def opener() -> DeadLetterStore:
            opened.append(PostgresDeadLetterStore(dsn))
            return opened[-1]

    yield Backend(opener)
    for store in opened:
        store.close()


def letter(n: int, reason: str = "bad_line", **kw: object) -> DeadLetter:
    fields: dict[str, object] = {
        "raw": f"line {n}",
        "reason": reason,
        "detail": f"detail {n}",
        "source": "data.txt",
        "line": n,
        "received_at": 1_700_000_000.0 + n,
    }
    fields.update(kw)
    return DeadLetter(**fields)  # type: ignore[arg-type]


def test_empty(backend: Backend) -> None:
    store = backend.open()
    assert store.count() == 0
    assert store.count("bad_line") == 0
    assert store.counts_by_reason() == {}
    assert store.list() == []
    store.put([])
    assert store.count() == 0


def test_round_trip_keeps_every_field(backend: Backend) -> None:
    store = backend.open()
    records = [
        letter(1, raw="ünïcødé ✓ \t tabs", detail="why it failed"),
        letter(2, source=None, line=None),
        DeadLetter(raw='{"x": 1}', reason="bad_json", detail="d"),  # received_at defaults to now
    ]
    store.put(records)
    got = list(reversed(store.list()))
    assert [(r.raw, r.reason, r.detail, r.source, r.line) for r in got] == [
        (r.raw, r.reason, r.detail, r.source, r.line) for r in records
    ]
    for mine, theirs in zip(records, got, strict=True):
        assert theirs.received_at == pytest.approx(mine.received_at, abs=1e-5)


def test_counts(backend: Backend) -> None:
    store = backend.open()
    store.put([letter(1, "self_edge"), letter(2, "bad_line"), letter(3, "self_edge")])
    store.put([letter(4, "bad_json"), letter(5, "bad_line"), letter(6, "self_edge")])
    assert store.count() == 6
    assert store.count("self_edge") == 3
    assert store.count("nope") == 0
    by_reason = store.counts_by_reason()
    assert by_reason == {"self_edge": 3, "bad_line": 2, "bad_json": 1}
    assert list(by_reason) == ["self_edge", "bad_line", "bad_json"]  # most frequent first


def test_list_is_newest_first_and_pages(backend: Backend) -> None:
    store = backend.open()
    store.put([letter(n, "self_edge" if n % 3 == 0 else "bad_line") for n in range(1, 11)])
    assert [r.line for r in store.list()] == list(range(10, 0, -1))
    assert [r.line for r in store.list(limit=3)] == [10, 9, 8]
    assert [r.line for r in store.list(limit=3, offset=8)] == [2, 1]
    assert [r.line for r in store.list(limit=2, offset=1, reason="self_edge")] == [6, 3]
    assert store.list(limit=0) == []
    assert store.list(offset=100) == []


def test_raw_with_nul_is_kept(backend: Backend) -> None:
    store = backend.open()
    store.put([letter(1, raw="a\x00b")])
    raw = store.list()[0].raw
    assert raw in {"a\x00b", "a\ufffdb"}  # PostgreSQL text cannot hold NUL: it becomes U+FFFD


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.integration)], indirect=True
)
def test_records_survive_reopening(backend: Backend) -> None:
    """Durable stores only (memory:// forgets by design)."""
    first = backend.open()
    first.put([letter(1), letter(2, "self_edge")])
    first.close()
    second = backend.open()
    assert second.counts_by_reason() == {"bad_line": 1, "self_edge": 1}
    second.put([letter(3)])
    assert [r.line for r in second.list()] == [3, 2, 1]
