"""The online store's features computed offline from the Parquet event log, with DuckDB.

Same definitions as :mod:`pymk.online.base` (:data:`WINDOWS` over event-time buckets of
:data:`BUCKET_SECONDS`, last activity as actor, pair counts and last time, last-writer-wins connection
and block state by event time), the other materialisation: a test checks that the worker's online store
and these queries agree for the same users, pairs and time.

Rules the online store applies in arrival order are applied here in event-time order, so the two agree
when events arrive in time order (or late by less than a user's retained window): a deleted user has
no features, its pairs are purged (they count for neither user), and events after its deletion are
ignored. Events repeated in the log (same ``event_id``) count once. Ties in event time between a pair's
connect and disconnect are broken arbitrarily here (the log keeps no arrival order).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from pymk.io.eventlog import LOG_SCHEMA, event_log_glob, log_dir
from pymk.online.base import BUCKET_SECONDS, WINDOWS, PairFeatures, UserFeatures

_LIVE = f"""
CREATE TEMP VIEW log AS
    SELECT DISTINCT ON (event_id) event_id, ts, type, actor, target
    FROM raw WHERE ts IS NOT NULL;
CREATE TEMP VIEW deleted AS
    SELECT actor AS user_id, min(ts) AS del_ts FROM log WHERE type = 'delete_user' GROUP BY actor;
CREATE TEMP VIEW live AS
    SELECT l.*, CAST(floor(l.ts / {BUCKET_SECONDS}) AS BIGINT) AS bucket,
           least(l.actor, l.target) AS a, greatest(l.actor, l.target) AS b
    FROM log l LEFT JOIN deleted da ON da.user_id = l.actor LEFT JOIN deleted dt ON dt.user_id = l.target
    WHERE l.type <> 'delete_user' AND (da.del_ts IS NULL OR l.ts < da.del_ts)
      AND (dt.del_ts IS NULL OR l.ts < dt.del_ts);
CREATE TEMP VIEW pairs AS
    SELECT * FROM live WHERE target IS NOT NULL
      AND a NOT IN (SELECT user_id FROM deleted) AND b NOT IN (SELECT user_id FROM deleted);
CREATE TEMP VIEW edges AS
    SELECT a, b, arg_max(type = 'connect', ts) AS connected FROM pairs
    WHERE type IN ('connect', 'disconnect', 'block') GROUP BY a, b;
"""


def _connect(home: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    if log_dir(home).exists():
        con.read_parquet(event_log_glob(home), hive_partitioning=True).create_view("raw")
    else:
        con.register("raw", LOG_SCHEMA.empty_table())
    for statement in _LIVE.split(";"):
        if statement.strip():
            con.execute(statement)
    return con


def user_features(home: Path, users: Sequence[str], now: float) -> list[UserFeatures]:
    """What :meth:`OnlineStore.user_features` answers for ``users`` at ``now``, from ``home``'s log."""
    con = _connect(home)
    con.register("wanted", pa.table({"user_id": pa.array(list(users), pa.string())}))
    current = int(now // BUCKET_SECONDS)
    windows = pa.table(
        {"name": list(WINDOWS), "buckets": [length // BUCKET_SECONDS for length in WINDOWS.values()]}
    )
    con.register("windows", windows)
    counts = con.execute(
        """
        WITH ends AS (
            SELECT actor AS user_id, type || '.out' AS feature, bucket FROM live
            UNION ALL SELECT target, type || '.in', bucket FROM live WHERE target IS NOT NULL)
        SELECT e.user_id, e.feature || '.' || w.name, count(*)
        FROM ends e JOIN wanted USING (user_id), windows w
        WHERE e.bucket <= ? AND e.bucket > ? - w.buckets
        GROUP BY ALL
        """,
        [current, current],
    ).fetchall()
    last = dict(
        con.execute(
            "SELECT actor, max(ts) FROM live JOIN wanted ON actor = user_id GROUP BY actor"
        ).fetchall()
    )
    degree = dict(
        con.execute(
            """SELECT user_id, count(*) FROM (SELECT a AS user_id FROM edges WHERE connected
               UNION ALL SELECT b FROM edges WHERE connected) JOIN wanted USING (user_id) GROUP BY user_id"""
        ).fetchall()
    )
    deleted = {row[0] for row in con.execute("SELECT user_id FROM deleted").fetchall()}
    con.close()
    per_user: dict[str, dict[str, int]] = {}
    for user, name, n in counts:
        per_user.setdefault(user, {})[name] = int(n)
    return [
        UserFeatures(user, 0, None, {}, deleted=True)
        if user in deleted
        else UserFeatures(user, int(degree.get(user, 0)), last.get(user), per_user.get(user, {}))
        for user in users
    ]


def pair_features(home: Path, pairs: Sequence[tuple[str, str]]) -> list[PairFeatures]:
    """What :meth:`OnlineStore.pair_features` answers for ``pairs``, from ``home``'s log."""
    con = _connect(home)
    ordered = [tuple(sorted(pair)) for pair in pairs]
    con.register("wanted", pa.table({"a": [p[0] for p in ordered], "b": [p[1] for p in ordered]}))
    counts = con.execute(
        "SELECT a, b, type, count(*), max(ts) FROM pairs JOIN wanted USING (a, b) GROUP BY ALL"
    ).fetchall()
    connected = {
        (a, b) for a, b, on in con.execute("SELECT * FROM edges JOIN wanted USING (a, b)").fetchall() if on
    }
    blocked = {
        (a, b)
        for a, b in con.execute(
            """SELECT a, b FROM (SELECT a, b, actor, arg_max(type = 'block', ts) AS is_on FROM pairs
               JOIN wanted USING (a, b) WHERE type IN ('block', 'unblock') GROUP BY ALL) WHERE is_on"""
        ).fetchall()
    }
    con.close()
    per_pair: dict[tuple[str, str], tuple[dict[str, int], float | None]] = {}
    for a, b, kind, n, last in counts:
        got, before = per_pair.get((a, b), ({}, None))
        got[kind] = int(n)
        per_pair[(a, b)] = (got, last if before is None else max(before, last))
    out = []
    for a, b in ordered:
        got, last = per_pair.get((a, b), ({}, None))
        out.append(PairFeatures(a, b, got, last, (a, b) in connected, (a, b) in blocked))
    return out
