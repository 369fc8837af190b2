"""The worker's journal, step by step: a stop at every boundary between a batch's writes, then a
restart, ends like one clean run (in process and deterministic; test_worker_crash.py kills for real)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _worker_state import dead_letters, graph_state, log_ids, messy_stream, write_stream

from pymk.events.deadletter import SqliteDeadLetterStore
from pymk.events.dedupe import SqliteSeenEvents
from pymk.online import MemoryOnlineStore
from pymk.stream import open_source
from pymk.stream.journal import journal_path, recover_graph_dir
from pymk.stream.worker import Worker

pytestmark = pytest.mark.unit


class Killed(BaseException):
    """Stands in for SIGKILL: nothing after it runs."""


class StoppingWorker(Worker):
    """Raises :class:`Killed` at the ``kill_at``-th boundary between batch steps."""

    kill_at = 0
    boundaries = 0

    def _pause(self) -> None:
        StoppingWorker.boundaries += 1
        if StoppingWorker.boundaries == StoppingWorker.kill_at:
            raise Killed


def _run(home: Path, stream: Path, online: MemoryOnlineStore, worker_class: type[Worker]) -> None:
    seen, letters = SqliteSeenEvents(home / "seen.sqlite"), SqliteDeadLetterStore(home / "dl.sqlite")
    source = open_source(f"file://{stream}?follow=0")
    try:
        worker = worker_class(
            source,
            home,
            seen=seen,
            deadletters=letters,
            online=online,
            source_name="s",
            batch_size=250,
            poll_s=0.01,
        )
        worker.run(idle_exit=0.05)
    finally:
        source.close()
        seen.close()
        letters.close()


def _state(home: Path, online: MemoryOnlineStore) -> tuple[object, ...]:
    letters = SqliteDeadLetterStore(home / "dl.sqlite")
    try:
        ids = log_ids(home)
        return graph_state(home), dead_letters(letters), sorted(ids), len(ids), online.last_seq()
    finally:
        letters.close()


def test_a_stop_between_any_two_steps_then_a_restart_ends_like_one_clean_run(tmp_path: Path) -> None:
    stream = messy_stream(users=120, seed=7, duplicates=100, bad=30)
    clean_online = MemoryOnlineStore()
    write_stream(tmp_path / "clean.jsonl", stream)
    _run(tmp_path / "clean", tmp_path / "clean.jsonl", clean_online, Worker)
    expected = _state(tmp_path / "clean", clean_online)
    assert expected[3] == len(stream.valid) and len(expected[1]) == stream.bad

    # Boundaries 1..5 fall in the first batch (after the journal, dead letters, online store, event log,
    # graph); 13 in the third. Each run stops once, then a restart finishes.
    for kill_at in (1, 2, 3, 4, 5, 13):
        home, path = tmp_path / f"k{kill_at}", tmp_path / f"k{kill_at}.jsonl"
        write_stream(path, stream)
        online = MemoryOnlineStore()
        StoppingWorker.kill_at, StoppingWorker.boundaries = kill_at, 0
        with pytest.raises(Killed):
            _run(home, path, online, StoppingWorker)
        assert journal_path(home, "pymk").exists()
        _run(home, path, online, Worker)
        assert not journal_path(home, "pymk").exists()
        assert _state(home, online) == expected, f"stopped at boundary {kill_at}"
        assert online.user_features(["u1", "u5"], stream.end_ts) == clean_online.user_features(
            ["u1", "u5"], stream.end_ts
        )


def test_recover_graph_dir_finishes_or_undoes_an_interrupted_swap(tmp_path: Path) -> None:
    graph = tmp_path / "graph"
    old, new = tmp_path / ".graph.old-1", tmp_path / ".graph.tmp-2"
    old.mkdir()
    (old / "v").write_text("old")
    new.mkdir()
    (new / "v").write_text("new")
    recover_graph_dir(graph)  # killed between the two renames: the complete tmp becomes the graph
    assert (graph / "v").read_text() == "new" and not old.exists() and not new.exists()

    half = tmp_path / ".graph.tmp-3"
    half.mkdir()
    recover_graph_dir(graph)  # killed while writing a tmp: dropped, the graph stays
    assert (graph / "v").read_text() == "new" and not half.exists()


def test_letters_present_finds_a_put_that_the_journal_did_not_record(tmp_path: Path) -> None:
    from pymk.events.deadletter import DeadLetter
    from pymk.stream.journal import letters_present

    store = SqliteDeadLetterStore(tmp_path / "dl.sqlite")
    mine = [
        DeadLetter("x", "bad_json", "d", "s#7", 7, 1000.5),
        DeadLetter("y", "bad_json", "d", "s#9", 9, 1000.5),
    ]
    store.put([DeadLetter("x", "bad_json", "d", "s#3", 3, 990.0)])
    assert not letters_present(store, mine)
    store.put(mine)
    store.put([DeadLetter(str(i), "bad_json", "d", f"s#{i}", i, 1001.0) for i in range(20, 1300)])
    assert letters_present(store, mine, page=100)
    assert letters_present(store, [])
    store.close()
