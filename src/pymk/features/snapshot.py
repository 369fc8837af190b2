"""The state of the interaction stream as of a time ``t``: graph, decayed pair weights, user features.

Point-in-time contract: :func:`build_snapshot` reads exactly the rows with ``clock < t`` (see
:class:`~pymk.features.rows.Rows`); rows at or after ``t`` cannot change anything it returns. Times are
measured backwards from ``t`` in units of the *span* ``t - (earliest row before t)``, so windows and
half-lives mean the same share of history on a 193-day and on a 7-year data set; the exception is the
fixed windows of :data:`ABS_WINDOWS` (rows in the last hour, day, week, month: seconds, as the rows' unix
times). For untimed data every time feature is the constant 0 and pair weights are row counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp

from pymk.features.centrality import user_centrality
from pymk.features.rows import Rows

#: Activity windows (share of the span before ``t``) counted per user.
WINDOWS = (0.01, 0.05, 0.1, 0.3)
#: Windows over which a user's *new* partners (first row of a pair) are counted.
CONN_WINDOWS = (0.1, 0.3)
#: Half-lives (share of the span) of the exponentially decayed activity.
HALF_LIVES = (0.01, 0.05, 0.2)
#: Half-life (share of the span) of the decayed pair weights behind ``wra``.
PAIR_HALF_LIFE = 0.1
#: Fixed-length activity windows (seconds before ``t``): rows per user, not rescaled. The windows above
#: follow each data set's span; these say "active in the last hour / day / week / month" on any data.
ABS_WINDOWS = {"1h": 3600.0, "24h": 86_400.0, "7d": 7 * 86_400.0, "30d": 30 * 86_400.0}

USER_FEATURES: tuple[str, ...] = (
    ("deg", "rows", "out_rows", "in_rows")
    + tuple(f"win_{w:g}" for w in WINDOWS)
    + tuple(f"conn_{w:g}" for w in CONN_WINDOWS)
    + tuple(f"decay_{h:g}" for h in HALF_LIVES)
    + ("since_last", "age", "pct_deg", "pct_decay")
    + tuple(f"rows_{w}" for w in ABS_WINDOWS)
)
#: Activity columns (windows, new partners, decays) are divided by their mean over known users.
#: The decayed activity that ranks "recently active" users (and backs off non-candidates).
ACTIVITY = "decay_0.05"


@dataclass(frozen=True)
class Snapshot:
    """Everything known at ``t``, on user indices ``0..n_users-1``.

    ``adjacency``: symmetric 0/1 CSR ``(n, n)`` float64 of the pairs seen before ``t``; ``weighted``: the
    same pattern with each pair's decayed weight ``sum 2^(-age / (PAIR_HALF_LIFE span))`` (row counts when
    untimed); ``degree``: int64 ``(n,)``; ``users``: float32 ``(n, len(USER_FEATURES))``, all zeros for a
    user not seen yet (``degree == 0``).
    """

    n_users: int
    t: float
    timed: bool
    adjacency: Any
    weighted: Any
    degree: np.ndarray
    users: np.ndarray

    @cached_property
    def known(self) -> np.ndarray:
        """bool ``(n,)``: users seen before ``t`` (read-only; computed once: every request asks)."""
        known: np.ndarray = self.degree > 0
        known.flags.writeable = False
        return known

    @cached_property
    def centrality(self) -> np.ndarray:
        """float32 ``(n, 4)``: core number, its share of the degree, PageRank, mean neighbour degree
        (:func:`pymk.features.centrality.user_centrality`; computed once, on first use)."""
        values = user_centrality(self.adjacency, self.degree)
        values.flags.writeable = False
        return values

    def feature(self, name: str) -> np.ndarray:
        """float32 ``(n,)`` column ``name`` of :data:`USER_FEATURES`."""
        column: np.ndarray = self.users[:, USER_FEATURES.index(name)]
        return column


def build_snapshot(rows: Rows, t: float) -> Snapshot:
    """The snapshot of ``rows`` as of ``t`` (only rows with ``clock < t`` are read)."""
    n = rows.n_users
    keep = rows.clock < t
    src, dst = rows.src[keep].astype(np.int64), rows.dst[keep].astype(np.int64)
    timed = rows.timed
    if timed and src.shape[0]:
        ts = rows.ts[keep]
        seconds = t - ts  # how far back each row lies, in seconds
        age = seconds / max(t - float(ts.min()), 1e-9)  # and in spans: (0, 1]
    else:
        seconds = age = np.zeros(src.shape[0])
    keys = np.minimum(src, dst) * n + np.maximum(src, dst)
    order = np.lexsort((-age, keys))  # per pair, oldest row (largest age) first
    ks = keys[order]
    starts = np.flatnonzero(np.concatenate(([True], ks[1:] != ks[:-1]))) if ks.shape[0] else ks
    uniq = ks[starts]
    pu, pv = uniq // max(n, 1), uniq % max(n, 1)
    if timed:
        weight = np.add.reduceat(np.exp2(-age[order] / PAIR_HALF_LIFE), starts) if ks.shape[0] else age
    else:
        weight = np.diff(np.append(starts, ks.shape[0])).astype(np.float64)
    rr, cc = np.concatenate([pu, pv]), np.concatenate([pv, pu])
    adjacency = sp.csr_matrix((np.ones(rr.shape[0]), (rr, cc)), shape=(n, n))
    weighted = sp.csr_matrix((np.concatenate([weight, weight]), (rr, cc)), shape=(n, n))
    degree = np.diff(adjacency.indptr).astype(np.int64)
    first_age = age[order][starts] if ks.shape[0] else age
    users = _user_features(n, src, dst, age, seconds, pu, pv, first_age, degree, timed)
    return Snapshot(n, float(t), timed, adjacency, weighted, degree, users)


def _count(n: int, idx: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    counts: np.ndarray = np.bincount(idx, weights=weights, minlength=n).astype(np.float64)
    return counts


def _user_features(
    n: int,
    src: np.ndarray,
    dst: np.ndarray,
    age: np.ndarray,
    seconds: np.ndarray,
    pu: np.ndarray,
    pv: np.ndarray,
    first_age: np.ndarray,
    degree: np.ndarray,
    timed: bool,
) -> np.ndarray:
    """float32 ``(n, len(USER_FEATURES))`` in :data:`USER_FEATURES` order."""
    both = np.concatenate([src, dst])
    age2 = np.concatenate([age, age])
    cols: list[np.ndarray] = [degree.astype(np.float64), _count(n, both), _count(n, src), _count(n, dst)]
    zero = np.zeros(n)
    if timed:
        cols += [_count(n, both[age2 <= w]) for w in WINDOWS]
        pairs, fa2 = np.concatenate([pu, pv]), np.concatenate([first_age, first_age])
        cols += [_count(n, pairs[fa2 <= w]) for w in CONN_WINDOWS]
        cols += [_count(n, both, np.exp2(-age2 / h)) for h in HALF_LIVES]
        last = np.full(n, 2.0)  # "never seen": further back than the whole span
        np.minimum.at(last, both, age2)
        first = np.zeros(n)
        np.maximum.at(first, both, age2)
        cols += [last, first]
        # Activity relative to the mean known user: snapshots at different times (and span lengths) then
        # share one scale, so a ranker trained on an earlier slice transfers to the end of train.
        n_known = float((degree > 0).sum())
        for j in range(4, 4 + len(WINDOWS) + len(CONN_WINDOWS) + len(HALF_LIVES)):
            cols[j] = cols[j] * (n_known / max(float(cols[j].sum()), 1e-12))
    else:
        cols += [zero] * (len(WINDOWS) + len(CONN_WINDOWS) + len(HALF_LIVES) + 2)
    activity = cols[4 + len(WINDOWS) + len(CONN_WINDOWS) + HALF_LIVES.index(0.05)]
    cols += [_percentile(degree.astype(np.float64)), _percentile(activity)]
    seconds2 = np.concatenate([seconds, seconds])
    cols += [_count(n, both[seconds2 <= w]) if timed else zero for w in ABS_WINDOWS.values()]
    return np.column_stack(cols).astype(np.float32)


def _percentile(values: np.ndarray) -> np.ndarray:
    """Share of users with a strictly smaller value, in [0, 1): comparable across snapshots of any size."""
    ordered = np.sort(values)
    out: np.ndarray = np.searchsorted(ordered, values, side="left") / max(values.shape[0], 1)
    return out
