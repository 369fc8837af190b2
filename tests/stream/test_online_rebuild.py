"""``pymk online rebuild``: the online store rebuilt from the offline event log equals what the worker
had built, and what :mod:`pymk.online.offline` computes; the Redis switch is atomic and guarded."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from _worker_state import messy_stream, write_stream
from typer.testing import CliRunner, Result

from pymk.cli import app
from pymk.events.deadletter import MemoryDeadLetterStore
from pymk.events.dedupe import MemorySeenEvents
from pymk.events.schema import Event, EventType
from pymk.online import MemoryOnlineStore, offline
from pymk.online.base import OnlineStore, PairFeatures, UserFeatures
from pymk.online.rebuild import log_events, rebuild, summarise_log, verify
from pymk.stream import open_source
from pymk.stream.worker import Worker, home_lock

Run = Callable[..., Result]
Snapshot = tuple[list[UserFeatures], list[PairFeatures], int]


def run_cli(home: Path, *args: str) -> Result:
    return CliRunner().invoke(
        app, ["online", "rebuild", *args, "--home", str(home)], env={"PYMK_CONFIG": None}
    )


def fill(
    tmp_path: Path, online: OnlineStore, users: int = 150
) -> tuple[Path, list[str], list[tuple[str, str]], float]:
    """Run the worker over a messy simulated stream into ``tmp_path/home`` and ``online``."""
    stream = messy_stream(users=users, seed=5, duplicates=80, bad=10)
    write_stream(tmp_path / "s.jsonl", stream)
    home = tmp_path / "home"
    worker = Worker(
        open_source(f"file://{tmp_path / 's.jsonl'}?follow=0"),
        home,
        seen=MemorySeenEvents(),
        deadletters=MemoryDeadLetterStore(),
        online=online,
        source_name="s",
        batch_size=500,
        poll_s=0.05,
    )
    worker.run(idle_exit=0.1)
    events = [e for batch in log_events(home) for e in batch]
    names = sorted({u for e in events for u in (e.actor, e.target) if u is not None})
    pairs = sorted({(min(e.actor, e.target), max(e.actor, e.target)) for e in events if e.target is not None})
    return home, names, pairs, stream.end_ts


def snapshot(store: OnlineStore, users: list[str], pairs: list[tuple[str, str]], at: float) -> Snapshot:
    return store.user_features(users, at), store.pair_features(pairs), store.last_seq()


@pytest.mark.unit
def test_rebuild_into_memory_equals_the_worker_store_and_the_offline_check(tmp_path: Path) -> None:
    built = MemoryOnlineStore()
    home, users, pairs, end = fill(tmp_path, built)
    summary = summarise_log(home)
    assert summary.events > 500 and summary.users == len(users) and summary.pairs == len(pairs)
    fresh = MemoryOnlineStore()
    assert rebuild(fresh, home, batch_size=333) == summary.events
    before, after = snapshot(built, users, pairs, end), snapshot(fresh, users, pairs, end)
    assert after[0] == before[0] and after[1] == before[1]
    assert after[2] == summary.graph_events == before[2]
    assert any(f.deleted for f in after[0]) and any(p.connected for p in after[1])
    check = verify(fresh, home, end, chunk=1000)
    assert check.ok and (check.users, check.pairs) == (len(users), len(pairs))


@pytest.mark.unit
def test_verify_reports_a_store_that_differs(tmp_path: Path) -> None:
    store = MemoryOnlineStore()
    home, _users, pairs, end = fill(tmp_path, store)
    a, b = next(p for p in pairs if "deleted" not in p)
    store.apply([Event("extra", end, EventType.LIKE, a, b)])
    check = verify(store, home, end, keep=1)
    assert not check.ok and check.mismatched == 3  # both users' counts and the pair
    assert len(check.mismatches) == 1 and check.mismatches[0].kind == "user"


@pytest.mark.e2e
def test_memory_rebuild_command_checks_and_discards(tmp_path: Path) -> None:
    home, *_ = fill(tmp_path, MemoryOnlineStore())
    result = run_cli(home)
    assert result.exit_code == 0, result.output
    assert "check passed" in result.stdout and "discarded" in result.stdout
    dry = run_cli(home, "--dry-run")
    assert dry.exit_code == 0 and "dry run" in dry.stdout and "events to apply" in dry.stdout


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--online-url", "kafka://x:1"], "--online-url"),
        (["--batch-size", "0"], "--batch-size"),
        (["--online-url", "redis://127.0.0.1:1/0"], "cannot reach Redis"),
    ],
)
def test_bad_options(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_cli(tmp_path / "home", *args)
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output


@pytest.mark.e2e
def test_refused_while_a_worker_holds_the_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with home_lock(home):
        result = run_cli(home)
    assert result.exit_code == 3 and "writing to" in result.output


@pytest.mark.integration
@pytest.mark.slow
def test_redis_rebuild_after_corruption_equals_the_original(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    import redis as redis_py

    from pymk.online.redis_store import RedisOnlineStore

    client = redis_py.Redis.from_url(redis_url)
    live = RedisOnlineStore(redis_py.Redis.from_url(redis_url), prefix=redis_prefix)
    home, users, pairs, end = fill(tmp_path, live)
    original = snapshot(live, users, pairs, end)
    assert any(f.counts for f in original[0]) and original[2] > 0
    url = f"{redis_url}?prefix={redis_prefix}"

    dry = run_cli(home, "--online-url", url, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"live keys under {redis_prefix}" in dry.stdout
    keys = sorted(client.scan_iter(match=redis_prefix + "*"))
    assert keys and not [k for k in keys if b"rebuild" in k]  # a dry run writes nothing

    # Corrupt: drop a third of the keys, scribble on a user's counts, add a stray key.
    for key in keys[::3]:
        client.delete(key)
    victim = next(k for k in keys[1::3] if k.endswith(b":counts"))
    client.hset(victim, "like.out:1", 99)
    client.set(f"{redis_prefix}{{u:ghost}}:meta", "x")
    assert snapshot(live, users, pairs, end)[:2] != original[:2]

    result = run_cli(home, "--online-url", url)
    assert result.exit_code == 0, result.output
    assert "check passed" in result.stdout and "switched" in result.stdout
    rebuilt = snapshot(live, users, pairs, end)
    assert rebuilt[0] == original[0] and rebuilt[1] == original[1]
    # The delta log continues the old sequence: a follower at the old end reads the rebuilt log anew.
    assert rebuilt[2] == 2 * original[2]
    assert [d.seq for d in live.deltas_since(original[2], limit=3)] == [
        original[2] + 1,
        original[2] + 2,
        original[2] + 3,
    ]
    left = set(client.scan_iter(match=redis_prefix + "*"))
    assert not [k for k in left if b"rebuild" in k or b"ghost" in k]
    client.close()
    live.close()


@pytest.mark.integration
def test_redis_switch_refused_when_the_live_store_moved(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    import redis as redis_py

    from pymk.online.redis_rebuild import RedisRebuild, SwitchAborted
    from pymk.online.redis_store import RedisOnlineStore

    client = redis_py.Redis.from_url(redis_url)
    live = RedisOnlineStore(client, prefix=redis_prefix)
    live.apply([Event("c1", 100.0, EventType.CONNECT, "a", "b")])
    plan = RedisRebuild(client, redis_prefix)
    staging = plan.prepare()
    staging.apply([Event("c1", 100.0, EventType.CONNECT, "a", "b")])
    live.apply([Event("c2", 101.0, EventType.CONNECT, "a", "c")])  # a worker still running
    with pytest.raises(SwitchAborted, match="worker"):
        plan.switch()
    assert live.pair_features([("a", "c")])[0].connected  # nothing was switched
    assert plan.clear_staging() > 0
    client.close()


@pytest.mark.integration
@pytest.mark.slow
def test_no_switch_leaves_the_rebuild_under_its_own_prefix(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    import redis as redis_py

    home, users, _pairs, end = fill(tmp_path, MemoryOnlineStore())
    result = run_cli(home, "--online-url", f"{redis_url}?prefix={redis_prefix}", "--no-switch")
    assert result.exit_code == 0, result.output
    assert "not switched" in result.stdout and f"{redis_prefix}rebuilt-" in result.stdout.replace("%3A", ":")
    client = redis_py.Redis.from_url(redis_url)
    assert not list(client.scan_iter(match=redis_prefix + "{*"))  # the live prefix is untouched
    assert list(client.scan_iter(match=redis_prefix + "rebuilt-*"))
    client.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
def any_store(request: pytest.FixtureRequest) -> OnlineStore:
    if request.param == "memory":
        return MemoryOnlineStore()
    import redis as redis_py

    from pymk.online.redis_store import RedisOnlineStore

    url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")
    return RedisOnlineStore(redis_py.Redis.from_url(url), prefix=prefix)


@pytest.mark.unit
def test_a_block_on_a_deleted_user_is_purged_as_offline_does(tmp_path: Path, any_store: OnlineStore) -> None:
    """Found by the rebuild check on a 20,000-user simulation: the blocker kept its block on the deleted
    user, so the pair read ``blocked`` online and not offline."""
    lines = [
        {"event_id": "1", "ts": 10, "type": "block", "actor": "a", "target": "b"},
        {"event_id": "2", "ts": 11, "type": "like", "actor": "c", "target": "a"},
        {"event_id": "3", "ts": 12, "type": "delete_user", "actor": "b", "target": None},
    ]
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"".join(orjson.dumps({**e, "props": {}}) + b"\n" for e in lines))
    worker = Worker(
        open_source(f"file://{path}?follow=0"),
        tmp_path / "home",
        seen=MemorySeenEvents(),
        deadletters=MemoryDeadLetterStore(),
        online=any_store,
        source_name="s",
        poll_s=0.05,
    )
    worker.run(idle_exit=0.1)
    pairs = [("a", "b"), ("a", "c")]
    got = any_store.pair_features(pairs)
    assert got == offline.pair_features(tmp_path / "home", pairs)
    assert not got[0].blocked and got[1].counts == {"like": 1}
    check = verify(any_store, tmp_path / "home", 12.0)
    assert check.ok, check.mismatches
    any_store.close()
