"""The simulated stream obeys the event contract and the rules of DESIGN §2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest

from pymk.events.schema import EventType
from pymk.events.validation import validate_event
from pymk.sim import SimConfig, SimResult, simulate, write_jsonl
from pymk.sim.columns import CODE, pair_keys

pytestmark = pytest.mark.unit


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def test_every_event_validates_and_ids_are_unique(small: SimResult, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    assert write_jsonl(small, path) == len(small)
    lines = _lines(path)
    assert len(lines) == len(small)
    events = [validate_event(orjson.loads(line)) for line in lines]
    assert len({e.event_id for e in events}) == len(events)
    assert {e.type for e in events} >= {
        EventType.SIGNUP,
        EventType.CONNECT,
        EventType.MESSAGE,
        EventType.PROFILE_VIEW,
        EventType.LIKE,
        EventType.FOLLOW,
        EventType.BLOCK,
        EventType.DISCONNECT,
        EventType.DELETE_USER,
    }
    assert all(e.actor.startswith("u") and (e.target is None or e.target.startswith("u")) for e in events)


def test_time_ordered_within_span(small: SimResult) -> None:
    ts = small.events.ts
    assert np.all(np.diff(ts) >= 0)
    assert ts[0] >= small.config.start_ts
    assert ts[-1] < small.config.end_ts


def test_counts_match_the_config(small: SimResult) -> None:
    assert small.users == small.config.users
    assert small.connections == small.config.target_connections
    assert sum(small.counts().values()) == len(small)


def test_users_act_only_between_signup_and_deletion(small: SimResult) -> None:
    ev, n = small.events, small.config.users
    signup = np.full(n, -1, dtype=np.int64)
    is_signup = ev.type == CODE[EventType.SIGNUP]
    signup[ev.actor[is_signup]] = ev.ts[is_signup]
    deleted = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    is_delete = ev.type == CODE[EventType.DELETE_USER]
    assert is_delete.any()
    deleted[ev.actor[is_delete]] = ev.ts[is_delete]
    others = ~is_signup & ~is_delete
    for users in (ev.actor[others], ev.target[others][ev.target[others] >= 0]):
        assert np.all(signup[users] >= 0)
    actor, ts = ev.actor[others], ev.ts[others]
    assert np.all(signup[actor] < ts) and np.all(ts < deleted[actor])
    has_target = ev.target[others] >= 0
    target = ev.target[others][has_target]
    assert np.all(signup[target] < ts[has_target]) and np.all(ts[has_target] < deleted[target])
    # Each user signs up once and is deleted at most once, at the very end of their stream.
    assert np.bincount(ev.actor[is_signup], minlength=n).max() == 1
    last = np.zeros(n, dtype=np.int64)
    np.maximum.at(last, ev.actor, np.arange(len(ev)))
    assert np.all(last[ev.actor[is_delete]] == np.flatnonzero(is_delete))


def test_no_pair_event_after_a_block_or_disconnect(small: SimResult) -> None:
    ev, n = small.events, small.config.users
    pair = ev.target >= 0
    keys = pair_keys(ev.actor, np.maximum(ev.target, 0), n)
    for etype in (EventType.BLOCK, EventType.DISCONNECT):
        ended = np.flatnonzero(ev.type == CODE[etype])
        assert ended.size > 0
        first_end = dict(zip(keys[ended].tolist(), ended.tolist(), strict=True))
        rows = np.flatnonzero(pair & np.isin(keys, keys[ended]))
        later = [r for r in rows.tolist() if r > first_end[int(keys[r])]]
        assert later == [], f"events after a {etype.value}: {later[:5]}"


def test_connections_are_distinct_pairs_never_across_a_block(small: SimResult) -> None:
    ev, n = small.events, small.config.users
    connect = ev.type == CODE[EventType.CONNECT]
    keys = pair_keys(ev.actor[connect], ev.target[connect], n)
    assert np.unique(keys).shape[0] == keys.shape[0]
    block = ev.type == CODE[EventType.BLOCK]
    block_keys = pair_keys(ev.actor[block], ev.target[block], n)
    for key, row in zip(block_keys.tolist(), np.flatnonzero(block).tolist(), strict=True):
        later = np.flatnonzero(connect[row:])
        assert key not in set(pair_keys(ev.actor[row:][later], ev.target[row:][later], n).tolist())


def test_views_and_messages_tend_to_precede_connections(small: SimResult) -> None:
    ev, n = small.events, small.config.users
    connect = ev.type == CODE[EventType.CONNECT]
    connect_keys = pair_keys(ev.actor[connect], ev.target[connect], n).tolist()
    first_connect = dict(zip(connect_keys, ev.ts[connect].tolist(), strict=True))
    view = ev.type == CODE[EventType.PROFILE_VIEW]
    view_keys = pair_keys(ev.actor[view], ev.target[view], n).tolist()
    before = sum(
        1
        for k, t in zip(view_keys, ev.ts[view].tolist(), strict=True)
        if k in first_connect and t < first_connect[k]
    )
    assert before / connect.sum() > 0.3


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    cfg = SimConfig(users=800, seed=3)
    paths = [tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl.gz", tmp_path / "c.jsonl.gz"]
    write_jsonl(simulate(cfg), paths[0])
    write_jsonl(simulate(cfg), paths[1])
    write_jsonl(simulate(SimConfig(users=800, seed=4)), paths[2])
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()
