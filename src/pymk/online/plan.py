"""How one event changes the online store, as small per-user operation lists both stores execute.

Every piece of state belongs to one *slot*: a user (its counts, metadata, adjacency, blocks, partners and
the pairs whose lesser id is that user) or the graph-delta log. An event becomes one :class:`Unit` per
slot it touches; a store runs each unit atomically and at most once per ``event_id`` (Redis: one Lua
call on one hash-tagged slot; memory: under one lock), so a batch that is applied again after a crash
changes nothing that was already applied and completes what was not.

Operations (``op, key, field, value``; ``key`` names a structure of the slot):

- ``count`` — bump ``field:bucket`` in ``counts`` (``value`` = event-time bucket); buckets older than the
  retained window behind the slot's newest bucket are dropped, and late events that old are not counted;
- ``max`` — keep the numeric maximum; ``incr`` — add; ``sadd``/``srem`` — set membership; ``hdel`` —
  drop a field of a hash;
- ``edge``/``lww`` — last-writer-wins by event time on a ``"1|ts"``/``"0|ts"`` state (``edge`` also keeps
  ``meta.degree`` equal to the number of ``"1"`` neighbours), so a late connect cannot undo a later
  disconnect; ``del`` — drop a structure; ``hset`` — set a field; ``append`` — next sequence number of
  ``seq``, then append ``value`` to the log ``field`` under it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pymk.events.schema import Event, EventType

#: The slot of the graph-delta log (user slots are user ids, which never collide: see the stores).
DELTAS = ""

#: Event types that change the graph and go to the delta log.
GRAPH_TYPES = frozenset(
    {EventType.CONNECT, EventType.DISCONNECT, EventType.BLOCK, EventType.UNBLOCK, EventType.DELETE_USER}
)

#: Structures of a user slot deleted when the user is.
USER_KEYS = ("counts", "adj", "blocks", "partners", "meta")

Op = tuple[str, str, str, str]


@dataclass(slots=True)
class Unit:
    """Operations on one slot for one event: applied all together, once per ``event_id``."""

    event_id: str
    slot: str
    ops: list[Op] = field(default_factory=list)


def pair_key(other: str) -> str:
    """Key, in the slot of the lesser user id of a pair, of the pair's interaction record."""
    return f"pair:{other}"


def _ts(value: float) -> str:
    return repr(float(value))


def plan(event: Event, bucket_seconds: int, neighbours: Callable[[str], Sequence[str]]) -> list[Unit]:
    """The units of ``event``, in the order to apply them.

    ``neighbours(user)`` is asked only for ``delete_user``: every user whose slot refers to ``user``
    (adjacency entries and pair partners). The deleted user's own slot comes last, so a retry after a
    partial apply still finds them.
    """
    units: dict[str, Unit] = {}

    def on(slot: str) -> list[Op]:
        return units.setdefault(slot, Unit(event.event_id, slot)).ops

    a, t, kind, ts = event.actor, event.target, event.type, _ts(event.ts)
    if kind is EventType.DELETE_USER:
        own: list[Op] = []
        for other in neighbours(a):
            # The block an other user holds on the deleted one goes too: a deleted user's pairs are
            # purged (offline.py counts none of them), and that includes "blocked".
            on(other).extend(
                [("edge", "adj", a, f"0|{ts}"), ("srem", "partners", a, ""), ("hdel", "blocks", a, "")]
            )
            if other < a:
                on(other).append(("del", pair_key(a), "", ""))
            else:
                own.append(("del", pair_key(other), "", ""))
        own += [("del", key, "", "") for key in USER_KEYS]
        on(a).extend([*own, ("hset", "meta", "deleted", ts)])
    else:
        bucket = str(int(event.ts // bucket_seconds))
        on(a).extend([("count", "counts", f"{kind.value}.out", bucket), ("max", "meta", "last_active", ts)])
        if t is not None:
            on(t).append(("count", "counts", f"{kind.value}.in", bucket))
            lo, hi = sorted((a, t))
            on(lo).extend([("incr", pair_key(hi), kind.value, "1"), ("max", pair_key(hi), "last_ts", ts)])
            on(lo).append(("sadd", "partners", hi, ""))
            on(hi).append(("sadd", "partners", lo, ""))
            if kind in (EventType.CONNECT, EventType.DISCONNECT, EventType.BLOCK):
                state = "1" if kind is EventType.CONNECT else "0"
                on(a).append(("edge", "adj", t, f"{state}|{ts}"))
                on(t).append(("edge", "adj", a, f"{state}|{ts}"))
            if kind in (EventType.BLOCK, EventType.UNBLOCK):
                on(a).append(("lww", "blocks", t, f"{int(kind is EventType.BLOCK)}|{ts}"))
    if kind in GRAPH_TYPES:
        delta = {"type": kind.value, "actor": a, "target": t, "ts": event.ts, "event_id": event.event_id}
        on(DELTAS).append(("append", "seq", "log", json.dumps(delta)))
    return list(units.values())


def split_at_deletes(events: Sequence[Event]) -> list[list[Event]]:
    """Consecutive runs of ``events``, each ``delete_user`` alone in its run (it reads state first)."""
    runs: list[list[Event]] = [[]]
    for event in events:
        if event.type is EventType.DELETE_USER:
            runs += [[event], []]
        else:
            runs[-1].append(event)
    return [run for run in runs if run]


def bucket_of(field_name: str) -> int:
    """The bucket number at the end of a ``counts`` field (``"like.out:123"`` → 123)."""
    return int(field_name.rsplit(":", 1)[1])
