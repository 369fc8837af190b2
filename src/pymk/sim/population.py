"""Who exists and when: arrivals, activity levels, community memberships and deletions.

Users are numbered ``0..n-1`` in order of arrival, so "the users present at time t" is always a prefix
``0..P-1`` and the members of a community sorted by id are sorted by arrival too. Everything here is
drawn from the one generator passed in, in a fixed order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pymk.sim.config import DAY, CommunityKind, SimConfig

#: ``deleted_at`` of users who are never deleted.
NEVER = np.iinfo(np.int64).max


@dataclass(frozen=True)
class Communities:
    """Membership of every user in one kind of community.

    ``of_user[u]`` is ``u``'s community; ``members`` lists users grouped by community, ascending id
    inside each group; group ``c`` is ``members[start[c]:start[c+1]]``.
    """

    kind: CommunityKind
    of_user: np.ndarray
    members: np.ndarray
    start: np.ndarray

    @property
    def count(self) -> int:
        """Number of communities of this kind."""
        return int(self.start.shape[0] - 1)

    def present_counts(self, n_present: int) -> np.ndarray:
        """Members with id ``< n_present`` of each community (they are the first ones of each group)."""
        return np.bincount(self.of_user[:n_present], minlength=self.count)

    def sample_peers(self, users: np.ndarray, present: np.ndarray, r: np.ndarray) -> np.ndarray:
        """A uniform present member of each user's community (``r`` uniform in [0, 1)); may be the user."""
        c = self.of_user[users]
        pick = self.start[c] + (r * present[c]).astype(np.int64)
        peers: np.ndarray = self.members[np.minimum(pick, self.start[c + 1] - 1)]
        return peers


@dataclass(frozen=True)
class Population:
    """Per-user arrays, indexed by user id (= arrival rank).

    ``arrival``: int64 UNIX seconds, non-decreasing; ``activity``: float64, mean 1, lognormal skew;
    ``deleted_at``: int64 UNIX seconds of the ``delete_user`` event, :data:`NEVER` for most users.
    """

    arrival: np.ndarray
    activity: np.ndarray
    deleted_at: np.ndarray
    communities: tuple[Communities, ...]

    @property
    def size(self) -> int:
        """Number of users."""
        return int(self.arrival.shape[0])

    def present_by(self, ts: int) -> int:
        """How many users have arrived at or before ``ts`` (a prefix length)."""
        return int(np.searchsorted(self.arrival, ts, side="right"))


def _arrivals(cfg: SimConfig, rng: np.random.Generator) -> np.ndarray:
    """Sorted arrival offsets in seconds: an initial cohort in the first days, then growing arrivals."""
    n, span = cfg.users, cfg.days * DAY
    n0 = int(round(cfg.initial_share * n))
    first = rng.random(n0) * min(3 * DAY, 0.05 * span)
    u = rng.random(n - n0)
    g = cfg.growth
    # Inverse CDF of a density proportional to exp(g * t / span) on [0, span]: arrivals keep speeding up.
    later = span * u if g == 0 else span / g * np.log1p(u * np.expm1(g))
    offsets = np.sort(np.concatenate([first, later]))
    return np.minimum(offsets.astype(np.int64), int(span) - 1)


def _communities(kind: CommunityKind, n: int, rng: np.random.Generator) -> Communities:
    count = max(1, int(round(n / kind.mean_size)))
    weight = rng.lognormal(0.0, kind.size_sigma, count)
    cdf = np.cumsum(weight)
    of_user = np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right")
    of_user = np.minimum(of_user, count - 1).astype(np.int32)
    members = np.argsort(of_user, kind="stable").astype(np.int32)
    start = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(np.bincount(of_user, minlength=count), out=start[1:])
    return Communities(kind=kind, of_user=of_user, members=members, start=start)


def make_population(cfg: SimConfig, rng: np.random.Generator) -> Population:
    """Draw the population of ``cfg`` from ``rng``."""
    n = cfg.users
    arrival = cfg.start_ts + _arrivals(cfg, rng)
    activity = rng.lognormal(0.0, cfg.activity_sigma, n)
    activity /= activity.mean()
    communities = tuple(_communities(kind, n, rng) for kind in cfg.kinds)
    deleted_at = np.full(n, NEVER, dtype=np.int64)
    doomed = np.flatnonzero(rng.random(n) < cfg.delete_share)
    earliest = arrival[doomed] + DAY
    room = cfg.end_ts - 1 - earliest
    when = earliest + (rng.random(doomed.shape[0]) * np.maximum(room, 0)).astype(np.int64)
    ok = room > 0
    deleted_at[doomed[ok]] = when[ok]
    return Population(arrival=arrival, activity=activity, deleted_at=deleted_at, communities=communities)
