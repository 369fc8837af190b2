"""One contract (pymk.online.base) for every online store: in-process and Redis."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import pytest

from pymk.events.schema import Event, EventType
from pymk.online import MemoryOnlineStore, OnlineStore, open_online

pytestmark = pytest.mark.contract

HOUR, DAY = 3600, 86_400
T0 = 1_700_000_000.0 - 1_700_000_000.0 % HOUR  # the start of a bucket


def ev(eid: str, kind: str, actor: str, target: str | None, ts: float) -> Event:
    return Event(eid, ts, EventType(kind), actor, target)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
def opener(request: pytest.FixtureRequest) -> Iterator[Callable[[], OnlineStore]]:
    """Opens the store under test; every call reaches the same state (memory: the same object)."""
    opened: list[OnlineStore] = []
    if request.param == "memory":
        memory = MemoryOnlineStore()

        def open_store() -> OnlineStore:
            return memory
    else:
        url = f"{request.getfixturevalue('redis_url')}?prefix={request.getfixturevalue('redis_prefix')}"

        def open_store() -> OnlineStore:
            opened.append(open_online(url))
            return opened[-1]

    yield open_store
    for store in opened:
        store.close()


@pytest.fixture
def store(opener: Callable[[], OnlineStore]) -> OnlineStore:
    return opener()


def test_windowed_counts_and_last_activity(store: OnlineStore) -> None:
    store.apply(
        [
            ev("1", "like", "a", "b", T0 - 3 * DAY),
            ev("2", "like", "a", "b", T0 - 2 * HOUR),
            ev("3", "like", "a", "c", T0 + 10),
            ev("4", "profile_view", "b", "a", T0 + 20),
            ev("5", "signup", "d", None, T0 - 30 * DAY),
        ]
    )
    a, b, d, nobody = store.user_features(["a", "b", "d", "nobody"], now=T0 + 30)
    assert a.counts == {"like.out.1h": 1, "like.out.1d": 2, "like.out.7d": 3, "profile_view.in.1h": 1,
                        "profile_view.in.1d": 1, "profile_view.in.7d": 1}  # fmt: skip
    assert a.last_active == T0 + 10
    assert b.counts["like.in.7d"] == 2 and b.counts["like.in.1d"] == 1 and "like.in.1h" not in b.counts
    assert b.last_active == T0 + 20
    assert d.counts == {} and d.last_active == T0 - 30 * DAY  # outside every window
    assert (nobody.degree, nobody.last_active, nobody.counts, nobody.deleted) == (0, None, {}, False)
    assert store.user_features(["a"], now=T0 + 2 * DAY)[0].counts == {
        "like.out.7d": 3,
        "profile_view.in.7d": 1,
    }


def test_pair_features_in_either_order(store: OnlineStore) -> None:
    store.apply(
        [
            ev("1", "message", "b", "a", T0),
            ev("2", "message", "a", "b", T0 + 5),
            ev("3", "like", "a", "b", T0 + 1),
        ]
    )
    ab, ba, ac = store.pair_features([("a", "b"), ("b", "a"), ("a", "c")])
    assert ab == ba
    assert (ab.a, ab.b, ab.counts, ab.last_ts, ab.connected) == (
        "a",
        "b",
        {"message": 2, "like": 1},
        T0 + 5,
        False,
    )
    assert (ac.counts, ac.last_ts) == ({}, None)


def test_applying_again_changes_nothing(store: OnlineStore) -> None:
    batch = [
        ev("1", "connect", "a", "b", T0),
        ev("2", "like", "a", "b", T0 + 1),
        ev("2", "like", "a", "b", T0 + 1),  # a duplicate inside the batch
        ev("3", "block", "c", "a", T0 + 2),
    ]
    store.apply(batch)
    before = snapshot(store)
    store.apply(batch)
    store.apply(batch[1:2])
    assert snapshot(store) == before
    assert store.user_features(["a"], now=T0)[0].counts["like.out.1h"] == 1
    assert store.last_seq() == 2


def test_a_batch_cut_short_is_completed_by_applying_it_again(opener: Callable[[], OnlineStore]) -> None:
    events = random_events(300, seed=1)
    clean = MemoryOnlineStore()
    clean.apply(events)
    store = opener()
    store.apply(events[:170])  # the crash: only a prefix made it
    store.apply(events)  # the redelivered batch
    assert snapshot(store) == snapshot(clean)


def test_degrees_follow_connects_disconnects_and_blocks_by_event_time(store: OnlineStore) -> None:
    store.apply(
        [
            ev("1", "connect", "a", "b", T0),
            ev("2", "connect", "a", "c", T0 + 1),
            ev("3", "connect", "b", "a", T0 + 2),  # already connected: no change
            ev("4", "disconnect", "a", "b", T0 + 10),
            ev("5", "connect", "a", "b", T0 + 5),  # late: older than the disconnect
        ]
    )
    a, b, c = store.user_features(["a", "b", "c"], now=T0)
    assert (a.degree, b.degree, c.degree) == (1, 0, 1)
    assert [p.connected for p in store.pair_features([("a", "b"), ("c", "a")])] == [False, True]
    store.apply([ev("6", "block", "c", "a", T0 + 20)])
    assert store.pair_features([("a", "c")])[0].blocked
    store.apply([ev("7", "unblock", "c", "a", T0 + 30), ev("8", "block", "c", "a", T0 + 25)])  # late block
    assert [u.degree for u in store.user_features(["a", "c"], now=T0)] == [0, 0]  # unblock does not reconnect
    assert [p.blocked for p in store.pair_features([("c", "a"), ("a", "b")])] == [False, False]


def test_graph_deltas_are_numbered_in_order(store: OnlineStore) -> None:
    assert store.last_seq() == 0 and store.deltas_since(0) == []
    store.apply(
        [ev("1", "connect", "a", "b", T0), ev("2", "like", "a", "b", T0), ev("3", "block", "b", "c", T0 + 1)]
    )
    store.apply([ev("4", "unblock", "b", "c", T0 + 2), ev("5", "disconnect", "a", "b", T0 + 3)])
    store.apply([ev("6", "delete_user", "c", None, T0 + 4)])
    deltas = store.deltas_since(0)
    assert [(d.seq, d.type, d.actor, d.target, d.event_id) for d in deltas] == [
        (1, "connect", "a", "b", "1"),
        (2, "block", "b", "c", "3"),
        (3, "unblock", "b", "c", "4"),
        (4, "disconnect", "a", "b", "5"),
        (5, "delete_user", "c", None, "6"),
    ]
    assert deltas[0].ts == T0
    assert store.last_seq() == 5
    assert [d.seq for d in store.deltas_since(2)] == [3, 4, 5]
    assert [d.seq for d in store.deltas_since(1, limit=2)] == [2, 3]
    assert store.deltas_since(5) == []


def test_delete_user_purges_it_and_ignores_it_afterwards(store: OnlineStore) -> None:
    store.apply(
        [
            ev("1", "connect", "a", "x", T0),
            ev("2", "connect", "x", "z", T0),
            ev("3", "message", "x", "b", T0 + 1),
            ev("4", "like", "a", "b", T0 + 2),
            ev("5", "delete_user", "x", None, T0 + 3),
            ev("6", "like", "b", "x", T0 + 4),  # after the deletion: ignored
            ev("7", "connect", "x", "a", T0 + 5),
        ]
    )
    a, b, x, z = store.user_features(["a", "b", "x", "z"], now=T0 + 10)
    assert (x.deleted, x.degree, x.counts, x.last_active) == (True, 0, {}, None)
    assert (a.degree, z.degree) == (0, 0)
    assert b.counts == {"message.in.1h": 1, "message.in.1d": 1, "message.in.7d": 1,
                        "like.in.1h": 1, "like.in.1d": 1, "like.in.7d": 1}  # fmt: skip
    assert [(p.counts, p.connected) for p in store.pair_features([("a", "x"), ("b", "x"), ("x", "z")])] == [
        ({}, False)
    ] * 3
    assert store.pair_features([("a", "b")])[0].counts == {"like": 1}
    assert store.last_seq() == 3  # two connects and the deletion


def test_events_too_late_for_every_window_are_not_counted(store: OnlineStore) -> None:
    store.apply([ev("1", "like", "a", "b", T0), ev("2", "like", "a", "b", T0 + 8 * DAY)])
    store.apply([ev("3", "like", "a", "b", T0 + HOUR)])  # 8 days behind a's newest event
    assert store.user_features(["a"], now=T0 + 8 * DAY)[0].counts["like.out.7d"] == 1
    assert store.user_features(["a"], now=T0 + HOUR)[0].counts == {}  # its old bucket was dropped
    assert store.user_features(["a"], now=T0 + 8 * DAY)[0].last_active == T0 + 8 * DAY


def test_awkward_user_ids_do_not_collide(store: OnlineStore) -> None:
    ids = ["{a}", "%7Ba%7D", "a", "a}", "{", "ü", "a b", "pair:a", ""]
    store.apply([ev(f"e{i}", "connect", u, "hub", T0 + i) for i, u in enumerate(ids)])
    store.apply([ev("like", "like", "{a}", "a", T0)])
    features = store.user_features([*ids, "hub"], now=T0)
    assert [f.degree for f in features] == [1] * len(ids) + [len(ids)]
    assert features[0].counts["like.out.1h"] == 1 and "like.out.1h" not in features[1].counts
    assert features[2].counts["like.in.1h"] == 1


def test_state_survives_reopening(opener: Callable[[], OnlineStore]) -> None:
    opener().apply([ev("1", "connect", "a", "b", T0)])
    again = opener()
    assert again.user_features(["a"], now=T0)[0].degree == 1
    assert again.last_seq() == 1
    again.apply([ev("1", "connect", "a", "b", T0)])
    assert again.last_seq() == 1


KINDS = ["connect", "disconnect", "like", "message", "profile_view", "block", "unblock", "follow", "signup"]


def random_events(n: int, seed: int) -> list[Event]:
    """A messy stream: few users, out-of-order times, redeliveries, a couple of deletions."""
    rng = random.Random(seed)
    users = [f"u{i}" for i in range(30)]
    events: list[Event] = []
    for i in range(n):
        if events and rng.random() < 0.1:
            events.append(rng.choice(events))  # redelivered
            continue
        kind = "delete_user" if rng.random() < 0.002 else rng.choice(KINDS)
        actor, target = rng.sample(users, 2)
        unary = kind in ("signup", "delete_user")
        events.append(ev(f"e{i}", kind, actor, None if unary else target, T0 + rng.uniform(-3, 9) * DAY))
    return events


def snapshot(store: OnlineStore) -> tuple[object, object, object]:
    users = [f"u{i}" for i in range(30)] + ["a", "b", "c"]
    pairs = [(x, y) for i, x in enumerate(users) for y in users[i + 1 :]]
    deltas = [(d.type, d.actor, d.target, d.ts, d.event_id) for d in store.deltas_since(0)]
    return store.user_features(users, now=T0 + 5 * DAY), store.pair_features(pairs), deltas


@pytest.mark.integration
def test_memory_and_redis_agree_on_a_messy_stream(redis_url: str, redis_prefix: str) -> None:
    events = random_events(2000, seed=7)
    memory, redis_store = MemoryOnlineStore(), open_online(f"{redis_url}?prefix={redis_prefix}")
    for start in range(0, len(events), 250):
        memory.apply(events[start : start + 250])
        redis_store.apply(events[start : start + 250])
    assert snapshot(redis_store) == snapshot(memory)
    redis_store.close()
