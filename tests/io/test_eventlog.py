"""The offline event log: staged writes, day partitions, readers."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pymk.io.eventlog import LOG_SCHEMA, EventLogWriter, clear_staging, read_event_log

pytestmark = pytest.mark.unit


def events(ts: list[float | None], start: int = 0) -> pa.Table:
    n = len(ts)
    ids = [str(start + i) for i in range(n)]
    return pa.table(
        [ids, ts, ["message"] * n, ids, ids, list(range(n)), [None] * n, ["{}"] * n], schema=LOG_SCHEMA
    )


def visible(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home / "events")) for p in (home / "events").rglob("*.parquet"))


def test_nothing_is_visible_before_commit(tmp_path: Path) -> None:
    writer = EventLogWriter(tmp_path, "imp1", flush_rows=2)
    writer.append(events([0.0, 86_400.5, 90_000.0]))  # flushes: files exist, hidden
    assert read_event_log(tmp_path).num_rows == 0 and visible(tmp_path) == []
    assert writer.commit() == 2
    assert visible(tmp_path) == ["date=1970-01-01/part-imp1-0.parquet", "date=1970-01-02/part-imp1-0.parquet"]
    table = read_event_log(tmp_path).sort_by("ts")
    assert table.schema == LOG_SCHEMA and table["ts"].to_pylist() == [0.0, 86_400.5, 90_000.0]


def test_abort_leaves_nothing(tmp_path: Path) -> None:
    writer = EventLogWriter(tmp_path, "imp1", flush_rows=1)
    writer.append(events([0.0, 1.0]))
    writer.abort()
    assert writer.commit() == 0
    assert not [p for p in (tmp_path / "events").rglob("*") if p.is_file()]


def test_day_order_is_kept_within_a_file(tmp_path: Path) -> None:
    writer = EventLogWriter(tmp_path, "imp1")
    writer.append(events([5.0, 86_401.0, 3.0, None, 1.0]))
    writer.commit()
    assert visible(tmp_path)[0] == "date=1970-01-01/part-imp1-0.parquet"
    day = pq.read_table(tmp_path / "events" / visible(tmp_path)[0])
    assert day["ts"].to_pylist() == [5.0, 3.0, 1.0]  # arrival order, not sorted
    assert read_event_log(tmp_path, columns=["event_id"]).num_rows == 5
    assert "date=__HIVE_DEFAULT_PARTITION__/part-imp1-0.parquet" in visible(tmp_path)


def test_crashed_imports_are_cleaned_up(tmp_path: Path) -> None:
    writer = EventLogWriter(tmp_path, "crashed", flush_rows=1)
    writer.append(events([0.0]))  # flushed, never committed nor aborted
    leftovers = list((tmp_path / "events").rglob(".part-*"))
    assert leftovers
    clear_staging(tmp_path)
    assert not list((tmp_path / "events").rglob(".part-*"))


def test_empty_home(tmp_path: Path) -> None:
    assert read_event_log(tmp_path).schema == LOG_SCHEMA
    assert read_event_log(tmp_path, columns=["ts"]).column_names == ["ts"]
