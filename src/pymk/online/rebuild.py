"""Rebuild an online store from the offline event log, and check it against :mod:`pymk.online.offline`.

The log's events (``PYMK_HOME/events``, every accepted event: imports and the worker's batches) are read
with DuckDB in **event-time order** (ties by ``event_id``), each ``event_id`` once, rows without a time
left out (``snap-static`` imports: they have no time to bucket by) — the same rows
:mod:`pymk.online.offline` reads — and applied to the store with :meth:`OnlineStore.apply` in batches, as
the worker would have applied them had they arrived in time order. Memory: one batch of events at a time
(DuckDB streams the sorted log in record batches).

:func:`verify` then compares, for every user and every pair the log names, what the store answers with
what :mod:`pymk.online.offline` computes from the same log, at the log's newest event time (so the
windows hold data). They agree by construction except where the offline side is arbitrary: a pair's
connect and disconnect at the *same* event time (offline breaks that tie arbitrarily, the rebuild by
``event_id``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import orjson

from pymk.events.schema import Event, EventType
from pymk.io.eventlog import LOG_SCHEMA, event_log_glob, log_dir
from pymk.online import offline
from pymk.online.base import OnlineStore
from pymk.online.plan import GRAPH_TYPES

_DISTINCT = (
    "SELECT DISTINCT ON (event_id) event_id, ts, type, actor, target, props FROM raw WHERE ts IS NOT NULL"
)
_ORDERED = f"SELECT * FROM ({_DISTINCT}) ORDER BY ts, event_id"

Progress = Callable[[int, int], None]


def _connect(home: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    if log_dir(home).exists() and any(log_dir(home).glob("date=*/*.parquet")):
        con.read_parquet(event_log_glob(home), hive_partitioning=True).create_view("raw")
    else:
        con.register("raw", LOG_SCHEMA.empty_table())
    return con


@dataclass(frozen=True, slots=True)
class LogSummary:
    """What a rebuild of ``home``'s log reads: ``events`` distinct timed events (what is applied),
    ``repeats`` rows repeating an event id, ``untimed`` rows without a time (left out), ``users`` and
    ``pairs`` (unordered) they name, ``graph_events`` the graph-delta entries they make, ``first_ts`` and
    ``last_ts`` their event-time range (UNIX seconds; ``None`` when empty)."""

    events: int
    repeats: int
    untimed: int
    users: int
    pairs: int
    graph_events: int
    first_ts: float | None
    last_ts: float | None


def summarise_log(home: Path) -> LogSummary:
    """Counts of what :func:`rebuild` would apply from ``home``'s log (reads the log, writes nothing)."""
    con = _connect(home)
    graph = ", ".join(f"'{t.value}'" for t in GRAPH_TYPES)
    row = con.execute(
        f"""WITH d AS ({_DISTINCT})
        SELECT (SELECT count(*) FROM d),
               (SELECT count(*) FROM raw WHERE ts IS NOT NULL) - (SELECT count(*) FROM d),
               (SELECT count(*) FROM raw WHERE ts IS NULL),
               (SELECT count(DISTINCT u) FROM (SELECT actor AS u FROM d UNION ALL SELECT target FROM d)),
               (SELECT count(*) FROM (SELECT DISTINCT least(actor, target), greatest(actor, target)
                                      FROM d WHERE target IS NOT NULL)),
               (SELECT count(*) FROM d WHERE type IN ({graph})),
               (SELECT min(ts) FROM d), (SELECT max(ts) FROM d)"""
    ).fetchone()
    con.close()
    assert row is not None
    events, repeats, untimed, users, pairs, graph_events, first, last = row
    return LogSummary(
        int(events), int(repeats), int(untimed), int(users), int(pairs), int(graph_events), first, last
    )


def _event(row: tuple[Any, ...]) -> Event:
    event_id, ts, kind, actor, target, props = row
    decoded = orjson.loads(props) if props and props != "{}" else {}
    return Event(event_id, float(ts), EventType(kind), actor, target, decoded)


def log_events(home: Path, batch_size: int = 5000) -> Iterator[list[Event]]:
    """``home``'s log as events in event-time order (ties by ``event_id``), each id once, timed rows
    only, in lists of at most ``batch_size``."""
    con = _connect(home)
    try:
        reader = con.sql(_ORDERED).to_arrow_reader(batch_size)
        for batch in reader:
            columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            yield [_event(row) for row in zip(*columns, strict=True)]
    finally:
        con.close()


def rebuild(
    store: OnlineStore,
    home: Path,
    *,
    batch_size: int = 5000,
    now: float | None = None,
    progress: Progress | None = None,
    total: int | None = None,
) -> int:
    """Apply ``home``'s log to ``store`` (see the module doc); returns the events applied. ``now`` dates
    the applied event ids (processing time; default the clock); ``progress(done, total)`` after each
    batch, ``total`` from :func:`summarise_log` when given."""
    done = 0
    stamp = time.time() if now is None else now
    for events in log_events(home, batch_size):
        store.apply(events, now=stamp)
        done += len(events)
        if progress is not None:
            progress(done, total if total is not None else done)
    return done


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One user or pair whose rebuilt features differ from the offline computation."""

    kind: str  # "user" or "pair"
    key: str
    online: object
    offline: object


@dataclass(frozen=True, slots=True)
class Verification:
    """:func:`verify`'s answer: how many users and pairs were compared at ``at`` (UNIX seconds), and the
    first ``mismatches`` (at most the limit asked for) out of ``mismatched``."""

    at: float
    users: int
    pairs: int
    mismatched: int
    mismatches: list[Mismatch]

    @property
    def ok(self) -> bool:
        return self.mismatched == 0


def _named(home: Path) -> tuple[list[str], list[tuple[str, str]]]:
    con = _connect(home)
    users = [
        r[0]
        for r in con.execute(
            f"""SELECT DISTINCT u FROM (SELECT actor AS u FROM ({_DISTINCT})
                UNION ALL SELECT target FROM ({_DISTINCT})) WHERE u IS NOT NULL ORDER BY u"""
        ).fetchall()
    ]
    pairs = [
        (str(a), str(b))
        for a, b in con.execute(
            f"""SELECT DISTINCT least(actor, target) AS a, greatest(actor, target) AS b FROM ({_DISTINCT})
                WHERE target IS NOT NULL ORDER BY a, b"""
        ).fetchall()
    ]
    con.close()
    return users, pairs


def verify(
    store: OnlineStore,
    home: Path,
    at: float,
    *,
    chunk: int = 10_000,
    keep: int = 20,
    progress: Progress | None = None,
) -> Verification:
    """Compare ``store`` with :mod:`pymk.online.offline` over ``home``'s log for every user and pair the
    log names, at ``at`` (UNIX seconds); keeps the first ``keep`` mismatches."""
    users, pairs = _named(home)
    total = len(users) + len(pairs)
    mismatches: list[Mismatch] = []
    mismatched = 0
    done = 0

    def compare(kind: str, keys: Sequence[str], mine: Sequence[object], theirs: Sequence[object]) -> None:
        nonlocal mismatched
        for key, a, b in zip(keys, mine, theirs, strict=True):
            if a != b:
                mismatched += 1
                if len(mismatches) < keep:
                    mismatches.append(Mismatch(kind, key, a, b))

    for start in range(0, len(users), chunk):
        part = users[start : start + chunk]
        compare("user", part, store.user_features(part, at), offline.user_features(home, part, at))
        done += len(part)
        if progress is not None:
            progress(done, total)
    for start in range(0, len(pairs), chunk):
        some = pairs[start : start + chunk]
        keys = [f"{a} {b}" for a, b in some]
        compare("pair", keys, store.pair_features(some), offline.pair_features(home, some))
        done += len(some)
        if progress is not None:
            progress(done, total)
    return Verification(at, len(users), len(pairs), mismatched, mismatches)
