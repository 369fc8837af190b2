"""Drawing candidate pairs for one epoch, for a whole batch at once.

A candidate is ``(actor, target, ts)``: the actor is drawn by activity (newcomers boosted), the target by
one of three mechanisms — triadic closure (a random neighbour of a random neighbour, on the graph as it
was at the start of the epoch), a uniform present member of one of the actor's communities, or a global
choice (degree-biased or uniform). Candidates are only *proposals*: the caller filters them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pymk.sim.config import DAY, SimConfig
from pymk.sim.graph import Adjacency
from pymk.sim.population import Population

#: Nobody acts in the first minute after signing up (and the signup sorts first).
SETTLE_SECONDS = 60


def actor_weights(cfg: SimConfig, pop: Population, n_present: int, t: float) -> np.ndarray:
    """How much each present user (``0..n_present-1``) acts around time ``t``; 0 once deleted."""
    age = (t - pop.arrival[:n_present]) / (cfg.newcomer_days * DAY)
    boost = 1.0 + cfg.newcomer_boost * np.exp(-np.maximum(age, 0.0))
    weights: np.ndarray = pop.activity[:n_present] * boost
    weights[pop.deleted_at[:n_present] <= t] = 0.0
    return weights


@dataclass
class Epoch:
    """What the samplers need to know about one epoch ``[t0, t1)``.

    ``cdf`` is the cumulative actor weight of the ``n_present`` users present by ``t1``;
    ``community_counts[k]`` the present members of each community of kind ``k``.
    """

    t0: int
    t1: int
    n_present: int
    cdf: np.ndarray
    community_counts: list[np.ndarray]


class Sampler:
    """Vectorised candidate sampler over a population and a growing graph, drawing from ``rng``."""

    def __init__(self, cfg: SimConfig, pop: Population, graph: Adjacency, rng: np.random.Generator):
        self.cfg, self.pop, self.graph, self.rng = cfg, pop, graph, rng
        weights = np.array([k.weight for k in cfg.kinds], dtype=np.float64)
        self.kind_cdf = np.cumsum(weights / weights.sum())

    def epoch(self, t0: int, t1: int) -> Epoch:
        """Prepare the sampler state of epoch ``[t0, t1)``."""
        n_present = self.pop.present_by(t1)
        weights = actor_weights(self.cfg, self.pop, n_present, (t0 + t1) / 2.0)
        counts = [c.present_counts(n_present) for c in self.pop.communities]
        return Epoch(t0, t1, n_present, np.cumsum(weights), counts)

    def actors(self, ep: Epoch, k: int) -> np.ndarray:
        """``k`` users drawn by activity weight (int64)."""
        total = ep.cdf[-1] if ep.cdf.shape[0] else 0.0
        if total <= 0:
            return np.zeros(0, dtype=np.int64)
        r = self.rng.random(k) * total
        # Searching in ascending order is cache-friendly and several times faster on a big cdf.
        order = np.argsort(r)
        picked = np.empty(k, dtype=np.int64)
        picked[order] = np.searchsorted(ep.cdf, r[order], side="right")
        return np.minimum(picked, ep.n_present - 1)

    def times(self, ep: Epoch, *users: np.ndarray) -> np.ndarray:
        """Uniform times in the epoch, moved after every given user's arrival (+ settle time).

        A time may be pushed past the epoch's end; :meth:`alive` rejects those.
        """
        k = int(users[0].shape[0])
        ts = ep.t0 + (self.rng.random(k) * (ep.t1 - ep.t0)).astype(np.int64)
        for u in users:
            ts = np.maximum(ts, self.pop.arrival[u] + SETTLE_SECONDS)
        return ts

    def community_peers(self, ep: Epoch, users: np.ndarray) -> np.ndarray:
        """A uniform present member of one of each user's communities (kind drawn by weight)."""
        k = int(users.shape[0])
        kind = np.searchsorted(self.kind_cdf, self.rng.random(k), side="right")
        kind = np.minimum(kind, len(self.pop.communities) - 1)
        r = self.rng.random(k)
        out = np.empty(k, dtype=np.int64)
        for k, comm in enumerate(self.pop.communities):
            sel = kind == k
            out[sel] = comm.sample_peers(users[sel], ep.community_counts[k], r[sel])
        return out

    def global_targets(self, ep: Epoch, k: int, pa_share: float) -> np.ndarray:
        """``k`` users: degree-biased with probability ``pa_share`` (once edges exist), else uniform."""
        r = self.rng.random(k)
        out = (self.rng.random(k) * ep.n_present).astype(np.int64)
        if self.graph.directed_edges:
            pa = r < pa_share
            out[pa] = self.graph.random_endpoints(self.rng.random(int(pa.sum())))
        return out

    def targets(self, ep: Epoch, actors: np.ndarray) -> np.ndarray:
        """A target for each actor by the mechanism mixture of the config (may be invalid: self, ...)."""
        cfg, k = self.cfg, actors.shape[0]
        m = self.rng.random(k)
        out = np.empty(k, dtype=np.int64)
        fof = (m < cfg.p_fof) & (self.graph.degree[actors] > 0)
        comm = ~fof & (m < cfg.p_fof + cfg.p_community)
        glob = ~fof & ~comm
        a = actors[fof]
        via = self.graph.random_neighbours(a, self.rng.random(a.shape[0]))
        out[fof] = self.graph.random_neighbours(via, self.rng.random(a.shape[0]))
        out[comm] = self.community_peers(ep, actors[comm])
        out[glob] = self.global_targets(ep, int(glob.sum()), cfg.pa_share)
        return out

    def alive(self, ep: Epoch, ts: np.ndarray, *users: np.ndarray) -> np.ndarray:
        """Mask: ``ts`` is inside the epoch and every given user exists (arrived, not deleted) then."""
        ok = ts < ep.t1
        for u in users:
            ok &= (self.pop.arrival[u] < ts) & (ts < self.pop.deleted_at[u])
        return ok

    def candidates(self, ep: Epoch, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Up to ``k`` proposals ``(actor, target, ts)``, already free of self-pairs and dead users."""
        actors = self.actors(ep, k)
        targets = self.targets(ep, actors)
        ts = self.times(ep, actors, targets)
        ok = (actors != targets) & self.alive(ep, ts, actors, targets)
        return actors[ok], targets[ok], ts[ok]
