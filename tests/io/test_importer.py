"""``import_file``: every format, idempotent re-import, dead letters, the graph and the event log."""

from __future__ import annotations

import fcntl
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import orjson
import pyarrow.compute as pc
import pytest

from pymk.config import Settings
from pymk.events.ids import IdMap
from pymk.graph import NO_TS
from pymk.io.eventlog import LOG_SCHEMA, event_log_glob, read_event_log
from pymk.io.graph_apply import load_graph
from pymk.io.importer import HomeBusy, ImportReport, import_file
from pymk.stores import deadletter_store

pytestmark = pytest.mark.unit
WriteFile = Callable[..., Path]

TEMPORAL = ["# SNAP temporal", "1 2 1000", "2 3 2000", "3 3 2500", "2 1 3000", "4 1 86400000", "1 2 1000"]


def check_totals(report: ImportReport) -> None:
    assert report.rows_read == report.applied + report.duplicates + sum(report.rejected.values())


def graph_summary(settings: Settings) -> tuple[int, int, dict[tuple[str, str], tuple[int, int, int]]]:
    ids = IdMap.load(settings.home / "ids.arrow")
    graph = load_graph(settings.home)
    pairs = {}
    for u in range(graph.n_nodes):
        for v in graph.neighbors(u).tolist():
            pairs[(ids.external(u), ids.external(v))] = graph.pair_stats(u, v)
    return graph.n_nodes, graph.n_edges, pairs


def test_snap_temporal(settings: Settings, write_file: WriteFile) -> None:
    report = import_file(write_file("t.txt", *TEMPORAL), "snap-temporal", settings)
    check_totals(report)
    assert (report.rows_read, report.applied, report.duplicates) == (6, 5, 0)
    assert report.rejected == {"self_edge": 1} and report.dead_lettered == 1
    assert (report.users, report.connections) == (4, 3)
    _, _, pairs = graph_summary(settings)
    assert pairs[("1", "2")] == (2, 1, 3000)  # 1→2 twice (identical rows both count), 2→1 once
    assert pairs[("4", "1")] == (1, 0, 86_400_000)
    log = read_event_log(settings.home)
    assert log.schema == LOG_SCHEMA and log.num_rows == 5
    row = log.filter(pc.equal(log["ts"], 2000.0)).to_pylist()[0]
    assert (row["type"], row["actor"], row["target"], row["props"]) == ("message", "2", "3", "{}")
    ids = IdMap.load(settings.home / "ids.arrow")
    assert (row["actor_idx"], row["target_idx"]) == (ids.internal("2"), ids.internal("3"))


def test_reimport_changes_nothing(settings: Settings, write_file: WriteFile, tmp_path: Path) -> None:
    path = write_file("t.txt", *TEMPORAL)
    first = import_file(path, "snap-temporal", settings)
    before = graph_summary(settings)
    second = import_file(path, "snap-temporal", settings)
    check_totals(second)
    assert (second.applied, second.duplicates, second.rows_read) == (0, first.applied, first.rows_read)
    assert second.rejected == first.rejected and second.dead_lettered == 0
    assert (second.new_users, second.new_connections, second.log_files) == (0, 0, 0)
    renamed = tmp_path / "elsewhere" / "renamed.txt"
    renamed.parent.mkdir()
    shutil.copy(path, renamed)
    third = import_file(renamed, "snap-temporal", settings)
    assert (third.applied, third.duplicates) == (0, first.applied)
    assert graph_summary(settings) == before
    assert read_event_log(settings.home).num_rows == first.applied
    dead = deadletter_store(settings)
    assert dead.count() == 1  # the self-loop, stored once
    dead.close()


def test_gzip_input_is_the_same_data(settings: Settings, write_file: WriteFile) -> None:
    plain = import_file(write_file("t.txt", *TEMPORAL), "snap-temporal", settings)
    gz = import_file(write_file("t.txt.gz", *TEMPORAL, gz=True), "snap-temporal", settings)
    assert plain.applied == 5 and (gz.applied, gz.duplicates) == (0, 5)


def test_skip_counts_and_dead_letters(settings: Settings, write_file: WriteFile) -> None:
    path = write_file("bad.txt", "1 2 100", "1 2", "5 5 100", "1 2 abc", "2 3 200", "9 8 1e12")
    report = import_file(path, "snap-temporal", settings, on_error="skip")
    check_totals(report)
    assert report.applied == 2
    assert report.rejected == {"bad_line": 2, "self_edge": 1, "timestamp_out_of_range": 1}
    dead = deadletter_store(settings)
    records = {r.line: r for r in dead.list()}
    assert dead.counts_by_reason() == report.rejected
    dead.close()
    assert sorted(records) == [2, 3, 4, 6]
    assert (records[2].raw, records[2].reason, records[2].source) == ("1 2", "bad_line", str(path))
    assert "expected 3 fields" in records[2].detail
    assert (records[3].raw, records[3].reason) == ("5 5 100", "self_edge")
    assert records[6].reason == "timestamp_out_of_range"
    again = import_file(path, "snap-temporal", settings, on_error="skip")
    assert again.rejected == report.rejected and again.dead_lettered == 0


def test_self_loops_never_stop_an_import(settings: Settings, write_file: WriteFile) -> None:
    report = import_file(write_file("s.txt", "1 1", "1 2", "2 2"), "snap-static", settings)
    assert report.applied == 1 and report.rejected == {"self_edge": 2}
    dead = deadletter_store(settings)
    assert [(r.line, r.reason, r.raw) for r in dead.list()] == [
        (3, "self_edge", "2 2"),
        (1, "self_edge", "1 1"),
    ]
    dead.close()


def test_snap_static_has_no_time(settings: Settings, write_file: WriteFile) -> None:
    report = import_file(write_file("s.txt", "0 1", "0 2", "1 2", "2 0"), "snap-static", settings)
    assert (report.applied, report.connections, report.users) == (4, 3, 3)
    _, _, pairs = graph_summary(settings)
    assert pairs[("0", "2")] == (1, 1, NO_TS)
    log = read_event_log(settings.home)
    assert log["ts"].null_count == 4 and set(log["type"].to_pylist()) == {"connect"}
    partitions = {p.name for p in (settings.home / "events").iterdir()}
    assert partitions == {"date=__HIVE_DEFAULT_PARTITION__"}


def test_bitcoin_csv_keeps_the_rating(settings: Settings, write_file: WriteFile) -> None:
    lines = ["source,target,rating,time", "6,2,4,1289241911.72836", "6,5,-2,1289241941.53378"]
    report = import_file(write_file("b.csv", *lines), "bitcoin-csv", settings)
    assert report.applied == 2
    log = read_event_log(settings.home).sort_by("ts").to_pylist()
    assert [orjson.loads(r["props"]) for r in log] == [{"rating": 4.0}, {"rating": -2.0}]
    assert [r["type"] for r in log] == ["like", "like"] and log[0]["ts"] == pytest.approx(1289241911.72836)


@pytest.mark.parametrize("header", ["src,dst,ts", "ts,dst,src,weight"])
def test_edges_csv(settings: Settings, write_file: WriteFile, header: str) -> None:
    names = header.split(",")
    rows = [
        {"src": "a", "dst": "b", "ts": "100", "weight": "1"},
        {"src": "b", "dst": "c", "ts": "200", "weight": "2"},
    ]
    lines = [header, *(",".join(r[n] for n in names) for r in rows)]
    report = import_file(write_file("e.csv", *lines), "edges-csv", settings)
    assert (report.applied, report.users, report.connections) == (2, 3, 2)
    _, _, pairs = graph_summary(settings)
    assert pairs[("b", "c")] == (1, 0, 200)


def test_edges_csv_without_time(settings: Settings, write_file: WriteFile) -> None:
    report = import_file(write_file("e.csv", "dst,src", '"x, y",z', "z,w"), "edges-csv", settings)
    assert report.applied == 2
    assert sorted(read_event_log(settings.home)["actor"].to_pylist()) == ["w", "z"]
    assert "x, y" in read_event_log(settings.home)["target"].to_pylist()


def ev(
    event_id: str, ts: float | str, etype: str, actor: str, target: str | None = None, **props: object
) -> str:
    obj = {"event_id": event_id, "ts": ts, "type": etype, "actor": actor, "target": target}
    return orjson.dumps({**obj, "props": props} if props else obj).decode()


def test_events_jsonl_semantics(settings: Settings, write_file: WriteFile) -> None:
    lines = [
        ev("e1", 100, "signup", "alice"),
        ev("e2", "1970-01-01T00:03:20Z", "message", "alice", "bob", text="hi"),  # first sight: connects
        ev("e3", 300, "connect", "bob", "carol"),
        ev("e4", 400, "profile_view", "dave", "alice"),  # logged only
        ev("e5", 500, "disconnect", "alice", "bob"),
        ev("e6", 600, "message", "bob", "alice"),  # not first sight: no reconnect
        ev("e7", 700, "block", "carol", "erin"),
        ev("e8", 800, "connect", "erin", "carol"),  # refused: blocked
        ev("e9", 900, "like", "frank", "gina"),
        ev("e10", 950, "delete_user", "gina"),
        ev("e2", 999, "message", "alice", "bob"),  # repeated event_id: a duplicate
    ]
    report = import_file(write_file("ev.jsonl", *lines), "events-jsonl", settings)
    check_totals(report)
    assert (report.applied, report.duplicates, report.users) == (10, 1, 7)
    _, n_edges, pairs = graph_summary(settings)
    assert set(pairs) == {("bob", "carol"), ("carol", "bob")} and n_edges == 1
    ids = IdMap.load(settings.home / "ids.arrow")
    graph = load_graph(settings.home)
    assert graph.pair_stats(ids.internal("alice"), ids.internal("bob")) == (1, 1, 600)
    assert graph.is_blocked(ids.internal("carol"), ids.internal("erin"))
    assert graph.is_deleted(ids.internal("gina"))
    log = read_event_log(settings.home)
    assert log.num_rows == 10
    signup = log.filter(pc.equal(log["event_id"], "e1")).to_pylist()[0]
    assert signup["target"] is None and signup["target_idx"] is None
    message = log.filter(pc.equal(log["event_id"], "e2")).to_pylist()[0]
    assert orjson.loads(message["props"]) == {"text": "hi"} and message["ts"] == 200.0
    again = import_file(write_file("ev.jsonl", *lines), "events-jsonl", settings)
    assert (again.applied, again.duplicates) == (0, 11)


def test_second_file_applies_incrementally(settings: Settings, write_file: WriteFile) -> None:
    import_file(write_file("a.txt", "1 2 100", "2 3 200"), "snap-temporal", settings)
    ids_before = IdMap.load(settings.home / "ids.arrow")
    report = import_file(write_file("b.txt", "3 4 300", "2 1 400", "1 2 100"), "snap-temporal", settings)
    assert (report.applied, report.duplicates, report.new_users, report.new_connections) == (2, 1, 1, 1)
    ids = IdMap.load(settings.home / "ids.arrow")
    assert [ids.internal(u) for u in "123"] == [ids_before.internal(u) for u in "123"]
    _, n_edges, pairs = graph_summary(settings)
    assert n_edges == 3 and pairs[("1", "2")] == (1, 1, 400)


def test_event_log_is_readable_by_duckdb(settings: Settings, write_file: WriteFile) -> None:
    import_file(write_file("t.txt", *TEMPORAL), "snap-temporal", settings)
    glob = event_log_glob(settings.home)
    rows = duckdb.sql(
        f"SELECT date, count(*) AS n, min(ts) FROM read_parquet('{glob}', hive_partitioning = true) "
        "GROUP BY date ORDER BY date"
    ).fetchall()
    assert [(str(d), n) for d, n, _ in rows] == [("1970-01-01", 4), ("1972-09-27", 1)]
    assert rows[1][2] == 86_400_000.0
    types = {
        row[0]: row[1] for row in duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{glob}')").fetchall()
    }
    assert types["ts"] == "DOUBLE" and types["actor_idx"] == "INTEGER" and types["props"] == "VARCHAR"


def test_a_second_import_of_the_same_home_is_refused(settings: Settings, write_file: WriteFile) -> None:
    settings.home.mkdir(parents=True)
    with open(settings.home / ".import.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        with pytest.raises(HomeBusy):
            import_file(write_file("t.txt", *TEMPORAL), "snap-temporal", settings)


def test_progress_is_reported(settings: Settings, write_file: WriteFile) -> None:
    calls: list[tuple[int, int]] = []
    path = write_file("t.txt", *TEMPORAL * 10)
    import_file(
        path, "snap-temporal", settings, progress=lambda done, rows: calls.append((done, rows)), batch_lines=8
    )
    assert len(calls) == math.ceil(70 / 8)
    assert calls[-1] == (path.stat().st_size, 60)
