"""Activity around connections, and the final clean-up that makes the stream consistent.

Around each connection (vectorised over all of them): a profile view and/or a message shortly *before*
it (the signal a recommender can learn from), then a Poisson number of messages and likes along the new
edge, spaced by exponential gaps (so talk is densest just after connecting). :func:`finalize` then
adds signups and deletions, drops every event that would break a rule — anything touching a user at or
after their deletion, anything between a pair at or after it was blocked or disconnected, repeated
follows — and orders the stream by time.
"""

from __future__ import annotations

import numpy as np

from pymk.events.schema import EventType
from pymk.sim.columns import CODE, COLUMNS, VIEW_SOURCES, Block, block, concat, first_unique, pair_keys
from pymk.sim.config import DAY, SimConfig
from pymk.sim.formation import Formation
from pymk.sim.population import NEVER, Population
from pymk.sim.sampling import SETTLE_SECONDS

VIEW_LEAD_DAYS = 2.0
MESSAGE_LEAD_DAYS = 1.0
MESSAGE_GAP_DAYS = 7.0
LIKE_GAP_DAYS = 10.0
#: Share of pre-connection views made by the eventual target (looking back at who viewed them).
VIEW_BACK_SHARE = 0.3


def _before(
    rng: np.random.Generator, tc: np.ndarray, lower: np.ndarray, lead_days: float
) -> tuple[np.ndarray, np.ndarray]:
    """Times an exponential lead before ``tc`` but not before ``lower`` (else uniform in between).

    Returns ``(ts, ok)``; ``ok`` is false where there is no room (``tc - lower < 2`` seconds).
    """
    m = int(tc.shape[0])
    lead = rng.exponential(lead_days * DAY, m).astype(np.int64) + 1
    room = tc - lower
    inside = lower + (rng.random(m) * np.maximum(room, 0)).astype(np.int64)
    ts = np.where(tc - lead >= lower, tc - lead, inside)
    return ts, (room >= 2) & (ts < tc)


def _after(
    rng: np.random.Generator, tc: np.ndarray, mean: np.ndarray, gap_days: float
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson(``mean[i]``) follow-up times after each ``tc[i]``, exponential gaps: ``(row, ts)``."""
    count = rng.poisson(mean)
    row = np.repeat(np.arange(tc.shape[0]), count)
    gaps = rng.exponential(gap_days * DAY, row.shape[0])
    csum = np.cumsum(gaps)
    first = np.cumsum(count) - count  # index of each connection's first follow-up
    has = count > 0
    base = np.zeros(tc.shape[0])
    base[has] = csum[first[has]] - gaps[first[has]]
    offset = csum - np.repeat(base, count)
    return row, tc[row] + offset.astype(np.int64) + 1


def around_connections(cfg: SimConfig, pop: Population, f: Formation, rng: np.random.Generator) -> Block:
    """Connect events plus the views and messages before them and the messages and likes after."""
    a, b, tc = f.connect_actor, f.connect_target, f.connect_ts
    m = tc.shape[0]
    lower = np.maximum(pop.arrival[a], pop.arrival[b]) + SETTLE_SECONDS
    out = [block(EventType.CONNECT, tc, a, b)]

    want = rng.random(m) < cfg.view_before_connect
    back = rng.random(m) < VIEW_BACK_SHARE
    ts, ok = _before(rng, tc, lower, VIEW_LEAD_DAYS)
    sel = want & ok
    sources = rng.choice(VIEW_SOURCES, int(sel.sum()))
    out.append(
        block(EventType.PROFILE_VIEW, ts[sel], np.where(back, b, a)[sel], np.where(back, a, b)[sel], sources)
    )

    want = rng.random(m) < cfg.message_before_connect
    ts, ok = _before(rng, tc, lower, MESSAGE_LEAD_DAYS)
    sel = want & ok
    out.append(block(EventType.MESSAGE, ts[sel], a[sel], b[sel]))

    # Busier pairs talk more: the rate scales with the geometric mean of the two activity levels.
    pair_activity = np.sqrt(pop.activity[a] * pop.activity[b])
    pair_activity /= max(float(pair_activity.mean()), 1e-12)
    for etype, rate, gap in (
        (EventType.MESSAGE, cfg.messages_per_connection, MESSAGE_GAP_DAYS),
        (EventType.LIKE, cfg.likes_per_connection, LIKE_GAP_DAYS),
    ):
        row, ts = _after(rng, tc, rate * pair_activity, gap)
        keep = ts < cfg.end_ts
        row, ts = row[keep], ts[keep]
        flip = rng.random(row.shape[0]) < 0.5
        out.append(block(etype, ts, np.where(flip, b[row], a[row]), np.where(flip, a[row], b[row])))
    return concat(out)


def _consistent(cfg: SimConfig, pop: Population, body: Block) -> np.ndarray:
    """Mask of the pair events of ``body`` that break no deletion, ending or repeated-follow rule."""
    n = cfg.users
    dead_at = np.minimum(pop.deleted_at[body.actor], pop.deleted_at[np.maximum(body.target, 0)])
    ok = body.ts < dead_at
    del dead_at
    ending = np.flatnonzero((body.type == CODE[EventType.BLOCK]) | (body.type == CODE[EventType.DISCONNECT]))
    end_keys = pair_keys(body.actor[ending], body.target[ending], n)
    order = np.argsort(end_keys)
    end_keys, end_ts = end_keys[order], body.ts[ending][order]
    if end_keys.shape[0]:
        # Only rows whose two users both took part in some ending can hit one: look up just those.
        involved = np.zeros(n, dtype=bool)
        involved[body.actor[ending]] = True
        involved[body.target[ending]] = True
        rows = np.flatnonzero(involved[body.actor] & involved[np.maximum(body.target, 0)])
        rows = rows[body.target[rows] >= 0]
        keys = pair_keys(body.actor[rows], body.target[rows], n)
        pos = np.minimum(np.searchsorted(end_keys, keys), end_keys.shape[0] - 1)
        late = (end_keys[pos] == keys) & (body.ts[rows] >= end_ts[pos])
        late[np.isin(rows, ending)] = False  # the ending event itself stays
        ok[rows[late]] = False
    follow = np.flatnonzero(body.type == CODE[EventType.FOLLOW])
    by_time = follow[np.lexsort((follow, body.ts[follow]))]
    directed = body.actor[by_time].astype(np.int64) * n + body.target[by_time]
    first = first_unique(directed)
    repeated = np.ones(follow.shape[0], dtype=bool)
    repeated[first] = False
    ok[by_time[repeated]] = False
    result: np.ndarray = ok
    return result


def time_order(ts: np.ndarray, start: int) -> np.ndarray:
    """Indices sorting ``ts`` ascending, ties kept in row order (a stable sort, done fast).

    Packs ``(ts - start, row)`` into one int64 and sorts that, which is several times faster than a
    stable argsort on large arrays; falls back to the stable argsort when it does not fit.
    """
    n = ts.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    bits = max(1, int(n - 1).bit_length())
    span = int(ts.max()) - start + 1
    if int(ts.min()) < start or span.bit_length() + bits > 62:
        return np.argsort(ts, kind="stable")
    key = ts - start
    key <<= bits
    key |= np.arange(n, dtype=np.int64)
    key.sort()
    key &= (1 << bits) - 1
    return key


def finalize(cfg: SimConfig, pop: Population, parts: list[Block]) -> Block:
    """Signups, ``parts`` (cleaned by the rules above) and deletions, as one block ordered by ``ts``.

    At equal ``ts`` a signup comes first and a ``delete_user`` last. Consumes ``parts`` (the list is
    emptied) so that, at a million users, no more than one extra copy of the stream is alive at once.
    """
    body = concat(parts)
    parts.clear()
    keep = np.flatnonzero(_consistent(cfg, pop, body))
    gone = np.flatnonzero(pop.deleted_at != NEVER)
    head = block(EventType.SIGNUP, pop.arrival, np.arange(cfg.users))
    tail = block(EventType.DELETE_USER, pop.deleted_at[gone], gone)
    order = time_order(np.concatenate([head.ts, body.ts[keep], tail.ts]), cfg.start_ts)
    columns = {}
    for name in COLUMNS:
        merged = np.concatenate([head.column(name), body.column(name)[keep], tail.column(name)])
        columns[name] = merged[order]
        del merged
    return Block(**columns)
