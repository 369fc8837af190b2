"""``pymk deadletter replay`` / ``export`` end to end, and the replay use case's "nothing lost" order."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import duckdb
import orjson
import pytest
from typer.testing import CliRunner, Result

from pymk.cli import app
from pymk.errors import ServiceUnavailable
from pymk.events.deadletter import DeadLetter, MemoryDeadLetterStore, Selection, SqliteDeadLetterStore
from pymk.events.dedupe import MemorySeenEvents, SqliteSeenEvents
from pymk.events.schema import Event
from pymk.io.eventlog import event_log_glob, log_dir
from pymk.stream.base import Record
from pymk.stream.replay import Outcome, Replayer, StreamApplier
from pymk.stream.worker import home_lock

pytestmark = pytest.mark.e2e

Run = Callable[..., Result]


def event(event_id: str, ts: object = 1_700_000_000, actor: str = "a", target: str | None = "b") -> bytes:
    return orjson.dumps({"event_id": event_id, "ts": ts, "type": "like", "actor": actor, "target": target})


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def run(home: Path) -> Run:
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, [*args, "--home", str(home)], env={"PYMK_CONFIG": None})

    return invoke


def seed(home: Path, raws: Sequence[bytes], reason: str = "bad_timestamp") -> list[int]:
    """Store ``raws`` as dead letters of ``home`` (the embedded SQLite store); their ids in order."""
    store = SqliteDeadLetterStore(home / "deadletter.sqlite")
    store.put(
        [
            DeadLetter(r.decode(), reason, "seeded", "file:stream/events.jsonl#7", 7, 1_700_000_000.0)
            for r in raws
        ]
    )
    ids = [int(r.id or 0) for r in store.select(Selection(replayed=None))][-len(raws) :]
    store.close()
    return ids


def marks(home: Path) -> dict[int, str | None]:
    store = SqliteDeadLetterStore(home / "deadletter.sqlite")
    try:
        return {int(r.id or 0): r.replay_outcome for r in store.select(Selection(replayed=None))}
    finally:
        store.close()


def logged_ids(home: Path) -> list[str]:
    if not log_dir(home).exists():
        return []
    sql = f"SELECT event_id FROM read_parquet('{event_log_glob(home)}') ORDER BY event_id"
    return [r[0] for r in duckdb.connect().execute(sql).fetchall()]


def test_replay_as_is_applies_fixed_limits_reports_duplicates_and_marks(home: Path, run: Run) -> None:
    seen = SqliteSeenEvents(home / "seen-events.sqlite")
    seen.mark_seen(["old"])
    seen.close()
    ok, bad, dup, again = seed(home, [event("e1"), event("e2", ts="yesterday"), event("old"), event("e1")])

    dry = run("deadletter", "replay", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.stdout and "1 applied" in dry.stdout and "2 duplicates" in dry.stdout
    assert "1 still invalid" in dry.stdout
    assert logged_ids(home) == [] and set(marks(home).values()) == {None}  # a dry run writes nothing

    result = run("deadletter", "replay", "--json", str(home / "r.json"))
    assert result.exit_code == 0, result.output
    assert logged_ids(home) == ["e1"]
    assert marks(home) == {ok: "applied", bad: "invalid:bad_timestamp", dup: "duplicate", again: "duplicate"}
    report = json.loads((home / "r.json").read_text())
    assert report["counts"] == {"applied": 1, "published": 0, "duplicate": 2, "invalid": 1}
    assert [r["deadletter_id"] for r in report["records"]] == [ok, bad, dup, again]  # oldest first
    assert report["records"][1]["detail"].startswith("ts is not RFC 3339")
    store = SqliteDeadLetterStore(home / "deadletter.sqlite")
    assert store.count() == 4  # an unchanged record that fails again is not stored twice
    store.close()

    rerun = run("deadletter", "replay")
    assert rerun.exit_code == 0 and "no dead letters selected" in rerun.stdout
    forced = run("deadletter", "replay", "--again", "--ids", str(ok))
    assert forced.exit_code == 0 and "1 duplicates" in forced.stdout
    assert logged_ids(home) == ["e1"]

    listing = run("deadletter")
    assert re.search(r"total\s*│\s*4\s*│\s*4\s*│", listing.stdout), listing.stdout  # 4 stored, 4 replayed
    assert f"#{ok}" in listing.stdout


def test_export_fix_and_replay_by_input(home: Path, run: Run, tmp_path: Path) -> None:
    first, second, other = seed(home, [event("f1", ts="yesterday"), b"1 2 x", event("f3", ts="tomorrow")])
    exported = run("deadletter", "export", "--ids", f"{first}-{second}", "-o", str(tmp_path / "fix.ndjson"))
    assert exported.exit_code == 0, exported.output
    lines = [json.loads(line) for line in (tmp_path / "fix.ndjson").read_text().splitlines()]
    assert [line["deadletter_id"] for line in lines] == [first, second]
    assert lines[0]["event"]["ts"] == "yesterday" and lines[1]["raw"] == "1 2 x"
    lines[0]["event"]["ts"] = "2026-11-26T10:00:00+00:00"  # fixed
    lines[1]["raw"] = "still not an event"  # a fix that fails again: stored as a new dead letter
    (tmp_path / "fix.ndjson").write_text("".join(json.dumps(line) + "\n" for line in lines))

    for _ in range(2):  # the second run (--again, same fix) stores the failed fix only once
        result = run("deadletter", "replay", "--input", str(tmp_path / "fix.ndjson"), "--again")
        assert result.exit_code == 0, result.output
    assert logged_ids(home) == ["f1"]
    got = marks(home)
    assert got[first] == "duplicate" and got[second] == "invalid:bad_json" and got[other] is None
    store = SqliteDeadLetterStore(home / "deadletter.sqlite")
    [new] = store.select(Selection(ids=[other + 1], replayed=None))
    assert (new.raw, new.reason, new.source) == ("still not an event", "bad_json", f"deadletter#{second}")
    assert store.count() == 4
    store.close()


def test_replay_to_the_stream_publishes_keyed_by_actor(home: Path, run: Run, tmp_path: Path) -> None:
    stream = tmp_path / "events.jsonl"
    ids = seed(home, [event("s1", actor="x"), event("s2", ts=-5), event("s1", actor="x")])
    result = run("deadletter", "replay", "--to", "stream", "--events-url", f"file://{stream}")
    assert result.exit_code == 0, result.output
    assert "1 published" in result.stdout and "event stream" in result.stdout
    assert stream.read_bytes() == event("s1", actor="x") + b"\n"  # the payload as stored, once
    assert marks(home) == dict(
        zip(ids, ["published", "invalid:timestamp_out_of_range", "duplicate"], strict=True)
    )
    assert logged_ids(home) == []  # the worker applies it, not the replay


def test_a_failed_send_marks_nothing_and_a_rerun_finishes() -> None:
    letters, seen = MemoryDeadLetterStore(), MemorySeenEvents()
    letters.put([DeadLetter(event(f"r{i}").decode(), "bad_timestamp", "d") for i in range(3)])
    sent: list[bytes] = []

    class Flaky:
        outcome = Outcome.PUBLISHED
        fail = True

        def send(self, records: Sequence[Record], events: Sequence[Event]) -> None:
            if self.fail:
                raise ServiceUnavailable("stream down")
            sent.extend(r.payload for r in records)

    applier = Flaky()
    replayer = Replayer(letters, seen, applier, batch_size=2)
    with pytest.raises(ServiceUnavailable):
        replayer.run(replayer.select(Selection()))
    assert letters.select(Selection(replayed=True)) == [] and sent == []
    applier.fail = False
    report = replayer.run(replayer.select(Selection()))
    assert [a.outcome for a in report.attempts] == [Outcome.PUBLISHED] * 3
    assert sent == [event(f"r{i}") for i in range(3)]
    assert len(letters.select(Selection(replayed=True))) == 3


def test_stream_applier_keys_by_actor() -> None:
    got: list[tuple[list[bytes], list[bytes | None]]] = []

    class Sink:
        def publish(self, payloads: Sequence[bytes], keys: Sequence[bytes | None] | None = None) -> None:
            got.append((list(payloads), list(keys or [])))

        def close(self) -> None:
            pass

    letters = MemoryDeadLetterStore()
    letters.put([DeadLetter(event("k1", actor="u7").decode(), "bad_timestamp", "d")])
    replayer = Replayer(letters, MemorySeenEvents(), StreamApplier(Sink()))
    replayer.run(replayer.select(Selection()))
    assert got == [([event("k1", actor="u7")], [b"u7"])]


def test_home_mode_refuses_while_a_worker_holds_the_home(home: Path, run: Run) -> None:
    seed(home, [event("h1")])
    with home_lock(home):
        result = run("deadletter", "replay")
    assert result.exit_code == 3 and "writing to" in result.output and "Traceback" not in result.output
    assert set(marks(home).values()) == {None}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "--since"),
        (["--ids", "3-x"], "--ids"),
        (["--ids", "9-3"], "--ids"),
        (["--to", "nowhere"], "--to"),
        (["--limit", "0"], "--limit"),
        (["--input", "{dir}/missing.ndjson"], "missing.ndjson"),
        (["--input", "{dir}/bad.ndjson"], "--input"),
        (["--input", "{dir}/unknown.ndjson"], "not in the store: 999"),
    ],
)
def test_bad_options_name_the_option(run: Run, tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "bad.ndjson").write_text('{"deadletter_id": 1, "event": {}}\n{"deadletter_id": "x"}\n')
    (tmp_path / "unknown.ndjson").write_text('{"deadletter_id": 999, "raw": "x"}\n')
    result = run("deadletter", "replay", *[a.replace("{dir}", str(tmp_path)) for a in args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    if args[0] == "--input" and "bad" in args[1]:
        assert "line 2" in result.output


def test_since_selects_by_time(home: Path, run: Run) -> None:
    seed(home, [event("t1", ts="nope")])
    recent = run("deadletter", "replay", "--dry-run", "--since", "1h")
    assert "no dead letters selected" in recent.stdout  # seeded as received in 2023
    old = run("deadletter", "replay", "--dry-run", "--since", "2023-11-01")
    assert "1 still invalid" in old.stdout
