"""Offline/online parity: the worker's online store and DuckDB over the event log it wrote agree on the
same features for the same users, pairs and time (issue 5, item 4)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from _worker_state import messy_stream, write_stream

from pymk.events.deadletter import MemoryDeadLetterStore
from pymk.events.dedupe import MemorySeenEvents
from pymk.online import MemoryOnlineStore, offline
from pymk.stream import open_source
from pymk.stream.worker import BatchReport, Worker

pytestmark = pytest.mark.unit


def test_online_features_match_the_offline_definition_over_the_event_log(tmp_path: Path) -> None:
    stream = messy_stream(users=150, seed=5)
    write_stream(tmp_path / "s.jsonl", stream)
    online = MemoryOnlineStore()
    batches: list[BatchReport] = []
    worker = Worker(
        open_source(f"file://{tmp_path / 's.jsonl'}?follow=0"),
        tmp_path / "home",
        seen=MemorySeenEvents(),
        deadletters=MemoryDeadLetterStore(),
        online=online,
        source_name="s",
        batch_size=700,
        poll_s=0.05,
        hooks=[batches.append],
    )
    report = worker.run(idle_exit=0.1)
    assert report.applied == len(stream.valid) and report.rejected == stream.bad
    assert report.records == len(stream.payloads) and report.lag == 0
    assert sum(b.records for b in batches) == report.records

    events = [orjson.loads(p) for p in stream.payloads if p.startswith(b'{"event_id":"sim-')]
    users = sorted({e["actor"] for e in events} | {e["target"] for e in events if e["target"]})
    pairs = sorted({tuple(sorted((e["actor"], e["target"]))) for e in events if e["target"]})
    home = tmp_path / "home"

    at_end = online.user_features(users, stream.end_ts)
    assert at_end == offline.user_features(home, users, stream.end_ts)
    assert any(f.counts.get("message.out.7d") for f in at_end)
    assert any(f.deleted for f in at_end)  # purged users agree too
    assert any(f.degree for f in at_end) and all(f.last_active for f in at_end if not f.deleted)

    # Earlier in time: the 1h and 1d windows (the 7d one reaches past what the online store retains
    # behind a user's newest bucket).
    earlier = stream.end_ts - 2.5 * 86_400
    short = [
        {k: v for k, v in f.counts.items() if not k.endswith(".7d")}
        for f in online.user_features(users, earlier)
    ]
    offline_short = [
        {k: v for k, v in f.counts.items() if not k.endswith(".7d")}
        for f in offline.user_features(home, users, earlier)
    ]
    assert short == offline_short and any(short)

    assert online.pair_features(pairs) == offline.pair_features(home, pairs)
    assert any(p.connected for p in online.pair_features(pairs))


def test_touched_users_include_the_friends_of_a_connecting_pair(tmp_path: Path) -> None:
    lines = [
        {"event_id": "1", "ts": 10, "type": "connect", "actor": "a", "target": "b"},
        {"event_id": "2", "ts": 11, "type": "connect", "actor": "c", "target": "d"},
        {"event_id": "3", "ts": 12, "type": "like", "actor": "e", "target": "f"},
        {"event_id": "4", "ts": 13, "type": "connect", "actor": "b", "target": "c"},
    ]
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"".join(orjson.dumps({**e, "props": {}}) + b"\n" for e in lines))
    batches: list[BatchReport] = []
    worker = Worker(
        open_source(f"file://{path}?follow=0"),
        tmp_path / "home",
        seen=MemorySeenEvents(),
        deadletters=MemoryDeadLetterStore(),
        online=MemoryOnlineStore(),
        source_name="s",
        batch_size=3,
        poll_s=0.05,
        hooks=[batches.append],
    )
    worker.run(idle_exit=0.1)
    assert batches[0].touched == {"a", "b", "c", "d", "e", "f"}
    assert batches[1].touched == {"a", "b", "c", "d"}  # b's friend a and c's friend d see new FoF
