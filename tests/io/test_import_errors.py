"""``import_file`` with ``on_error="stop"`` names file, line and problem, and applies nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pymk.config import Settings
from pymk.errors import InvalidRecord
from pymk.io.importer import import_file
from pymk.stores import deadletter_store, seen_events_store

pytestmark = pytest.mark.unit
WriteFile = Callable[..., Path]

LONG = "u" * 129


@pytest.mark.parametrize(
    ("fmt", "lines", "line", "problem", "reason"),
    [
        (
            "snap-temporal",
            ["1 2 100", "1 2"],
            2,
            "expected 3 fields (whitespace-separated 'src dst unix_ts'), got 2",
            "bad_line",
        ),
        ("snap-temporal", ["1 2 100", "3 4 5 6"], 2, "expected 3 fields", "bad_line"),
        ("snap-temporal", ["# header", "1 2 abc"], 2, "unix_ts is not a number: 'abc'", "bad_line"),
        (
            "snap-temporal",
            ["1 2 99999999999"],
            1,
            "unix_ts 99999999999 is outside 1970-01-01 .. 2100-01-01",
            "timestamp_out_of_range",
        ),
        ("snap-temporal", ["1 2 -1"], 1, "is outside 1970-01-01", "timestamp_out_of_range"),
        ("snap-temporal", [f"{LONG} 2 100"], 1, "src has 129 characters, more than 128", "id_too_long"),
        ("snap-static", ["1 2", "", "1"], 3, "expected 2 fields", "bad_line"),
        ("bitcoin-csv", ["1,2,3,100", "1,2,x,100"], 2, "rating is not a number", "bad_line"),
        ("edges-csv", ["source,target", "1,2"], 1, "edges-csv needs a header naming src and dst", "bad_line"),
        (
            "edges-csv",
            ["src,dst,ts", "1,2"],
            2,
            "expected at least 3 fields as the header says, got 2",
            "bad_line",
        ),
        (
            "events-jsonl",
            ['{"event_id": "e1", "ts": 1, "type": "signup", "actor": "a"}', "{not json"],
            2,
            "not valid JSON",
            "bad_json",
        ),
        (
            "events-jsonl",
            ['{"event_id": "e1", "ts": 1, "type": "poke", "actor": "a", "target": "b"}'],
            1,
            "unknown event type 'poke'",
            "unknown_event_type",
        ),
        (
            "events-jsonl",
            ['{"event_id": "e1", "ts": 1, "type": "like", "actor": "a"}'],
            1,
            "a like event needs a target user",
            "missing_target",
        ),
    ],
)
def test_stop_names_file_line_and_problem(
    settings: Settings,
    write_file: WriteFile,
    fmt: str,
    lines: list[str],
    line: int,
    problem: str,
    reason: str,
) -> None:
    path = write_file("data.txt", *lines)
    with pytest.raises(InvalidRecord) as info:
        import_file(path, fmt, settings)
    error = info.value
    assert (error.source, error.line, error.reason) == (str(path), line, reason)
    assert str(error).startswith(f"{path}:{line}: ")
    assert problem in str(error)
    assert str(error).endswith(f"[{reason}]")


def _state(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file() and p.suffix != ".sqlite")


def test_stop_applies_nothing(settings: Settings, write_file: WriteFile) -> None:
    rows = [f"{i} {i + 1} {1_000_000 + i}" for i in range(50)]
    path = write_file("data.txt", *rows, "7 7 100", *rows, "oops")  # a self-loop, then a bad line at 102
    with pytest.raises(InvalidRecord) as info:
        import_file(path, "snap-temporal", settings, batch_lines=8)  # several batches before the error
    assert info.value.line == 102
    assert _state(settings.home) == [".import.lock"]  # no id map, event log or graph
    dead, seen = deadletter_store(settings), seen_events_store(settings)
    assert dead.count() == 0  # not even the self-loop before the error
    dead.close()
    seen.close()
    # After fixing the file, the import goes through as if the failed one never happened.
    path.write_text("\n".join([*rows, "7 7 100", *rows]) + "\n")
    report = import_file(path, "snap-temporal", settings, batch_lines=8)
    assert (report.applied, report.duplicates, report.rejected) == (100, 0, {"self_edge": 1})


def test_missing_file(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        import_file(tmp_path / "nope.txt", "snap-temporal", settings)
