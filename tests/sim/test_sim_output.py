"""Columnar output, Parquet and JSONL writers, config checks."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from pymk.errors import InvalidInput
from pymk.events.schema import Event
from pymk.sim import SCHEMA, SimConfig, SimResult, simulate, write_events, write_jsonl, write_parquet
from pymk.sim.writers import OutputFormat, format_for

pytestmark = pytest.mark.unit


def test_parquet_holds_the_arrow_table(small: SimResult, tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    write_parquet(small, path, chunk_rows=10_000)
    table = pq.read_table(path)
    assert table.schema.equals(SCHEMA)
    assert table.equals(small.to_arrow())


def test_jsonl_rows_equal_arrow_rows_and_events(small: SimResult, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl.gz"
    write_jsonl(small, path, chunk_rows=7_000)
    with gzip.open(path, "rb") as fh:
        rows = [orjson.loads(line) for line in fh]
    table = small.to_arrow().to_pylist()
    events = list(small.iter_events())
    assert len(rows) == len(table) == len(events)
    for i in (0, 1, len(rows) // 2, len(rows) - 1):
        expect = dict(table[i])
        expect["props"] = orjson.loads(expect["props"]) if expect["props"] else {}
        assert rows[i] == expect
        assert isinstance(events[i], Event) and events[i].to_dict() == {**rows[i], "ts": float(rows[i]["ts"])}


def test_chunked_arrow_view_matches_whole(small: SimResult) -> None:
    whole = small.to_arrow()
    chunks = list(small.iter_tables(chunk_rows=5_000))
    assert sum(t.num_rows for t in chunks) == whole.num_rows
    assert chunks[1].equals(whole.slice(5_000, 5_000))


def test_format_from_name_and_errors(tmp_path: Path) -> None:
    assert format_for(Path("x.parquet")) is OutputFormat.PARQUET
    assert format_for(Path("x.jsonl.gz")) is OutputFormat.JSONL
    with pytest.raises(InvalidInput):
        format_for(Path("x.csv"))
    result = simulate(SimConfig(users=50, avg_degree=4, epochs=5))
    assert write_events(result, tmp_path / "t.parquet") == len(result)
    assert pq.read_table(tmp_path / "t.parquet").num_rows == len(result)


def test_progress_reports_phases_in_order_up_to_done() -> None:
    seen: list[tuple[str, float]] = []
    simulate(SimConfig(users=200, avg_degree=4, epochs=7), lambda phase, done: seen.append((phase, done)))
    fractions = [done for _, done in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert [p for p, _ in seen if p == "graph"] and seen[0][0] == "population"


@pytest.mark.parametrize(
    "kwargs",
    [{"users": 1}, {"users": 10, "connections": 40}, {"days": 0}, {"p_fof": 0.8, "p_community": 0.5}],
)
def test_bad_configs_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidInput):
        SimConfig(**kwargs)  # type: ignore[arg-type]


def test_fingerprint_names_the_config() -> None:
    assert SimConfig(seed=1).fingerprint() == SimConfig(seed=1).fingerprint()
    assert SimConfig(seed=1).fingerprint() != SimConfig(seed=2).fingerprint()
