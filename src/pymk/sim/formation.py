"""The epoch loop: how the friendship graph grows, and the events drawn on the way.

Time is cut into ``cfg.epochs`` equal epochs. Each epoch gets a quota of connections proportional to the
activity of the users present then (so the pace follows the growing population), draws candidates for
the whole quota at once (:class:`~pymk.sim.sampling.Sampler`), keeps the first valid ones — a new pair,
not blocked, both users alive — and adds them to the graph at the end of the epoch, so triadic closure
always walks the graph as it stood at the epoch's start. Views that lead nowhere, follows, blocks and
disconnects of the epoch are drawn from the same samplers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pymk.events.schema import EventType
from pymk.sim.columns import (
    BLOCK_REASONS,
    VIEW_SOURCES,
    Block,
    block,
    concat,
    first_unique,
    in_sorted,
    pair_keys,
)
from pymk.sim.config import SimConfig
from pymk.sim.graph import Adjacency
from pymk.sim.population import Population
from pymk.sim.sampling import Epoch, Sampler, actor_weights

#: Called after each epoch with (epochs done, epochs in all, connections so far).
EpochCallback = Callable[[int, int, int], None]
_MAX_ROUNDS = 8


@dataclass(frozen=True)
class Formation:
    """Everything the epoch loop produced.

    ``connect_actor/target/ts`` are the connections in the order they were formed (time order within each
    epoch is not guaranteed); ``events`` holds the views, follows, blocks and disconnects drawn on the way.
    """

    connect_actor: np.ndarray
    connect_target: np.ndarray
    connect_ts: np.ndarray
    events: Block


def epoch_bounds(cfg: SimConfig) -> np.ndarray:
    """``cfg.epochs + 1`` int64 boundaries from ``start_ts`` to ``end_ts``."""
    return np.linspace(cfg.start_ts, cfg.end_ts, cfg.epochs + 1).round().astype(np.int64)


def quotas(cfg: SimConfig, pop: Population, bounds: np.ndarray) -> np.ndarray:
    """Connections per epoch: proportional to total actor weight times epoch length, summing to target."""
    mass = np.empty(cfg.epochs, dtype=np.float64)
    for e in range(cfg.epochs):
        t0, t1 = int(bounds[e]), int(bounds[e + 1])
        n_present = pop.present_by(t1)
        mass[e] = actor_weights(cfg, pop, n_present, (t0 + t1) / 2.0).sum() * (t1 - t0)
    share = cfg.target_connections * mass / mass.sum()
    out = np.floor(share).astype(np.int64)
    # Largest remainders get the leftover units so the quotas sum to the target exactly.
    rest = cfg.target_connections - int(out.sum())
    out[np.argsort(-(share - out), kind="stable")[:rest]] += 1
    result: np.ndarray = out
    return result


class _Loop:
    def __init__(self, cfg: SimConfig, pop: Population, rng: np.random.Generator) -> None:
        self.cfg, self.pop, self.rng, self.n = cfg, pop, rng, cfg.users
        self.graph = Adjacency(cfg.users)
        self.sampler = Sampler(cfg, pop, self.graph, rng)
        self.blocked = np.zeros(0, dtype=np.int64)  # sorted pair keys
        self.ended = np.zeros(0, dtype=np.int64)  # sorted pair keys of blocked or disconnected pairs
        self.yield_rate = 0.75  # share of proposals that became new connections in the last round

    def connect(self, ep: Epoch, need: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Up to ``need`` new connections in ``ep``: distinct new pairs, not blocked, both users alive."""
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        seen = np.zeros(0, dtype=np.int64)
        left = need
        for attempt in range(_MAX_ROUNDS):
            if left <= 0:
                break
            # Ask for what the last round's yield says is needed, plus a margin that grows on retries.
            asked = int(left / self.yield_rate * (1.1 + attempt)) + 64
            a, b, ts = self.sampler.candidates(ep, asked)
            keys = pair_keys(a, b, self.n)
            ok = ~self.graph.contains(a, b) & ~in_sorted(keys, self.blocked) & ~in_sorted(keys, seen)
            a, b, ts, keys = a[ok], b[ok], ts[ok], keys[ok]
            fresh = first_unique(keys)
            self.yield_rate = min(max(fresh.shape[0] / asked, 0.02), 1.0)
            take = fresh[:left]
            parts.append((a[take], b[take], ts[take]))
            seen = np.sort(np.concatenate([seen, keys[take]]))
            left -= take.shape[0]
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        return (
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]),
        )

    def side_events(self, ep: Epoch, quota: int, epoch_keys: np.ndarray) -> list[Block]:
        """Views that lead nowhere, follows, blocks and disconnects of one epoch."""
        cfg, rng, s = self.cfg, self.rng, self.sampler
        a, b, ts = s.candidates(ep, round(cfg.views_per_connection * quota))
        out = [block(EventType.PROFILE_VIEW, ts, a, b, rng.choice(VIEW_SOURCES, a.shape[0]))]
        k = round(cfg.follows_per_connection * quota)
        fa = s.actors(ep, k)
        fb = s.global_targets(ep, fa.shape[0], 1.0)
        fts = s.times(ep, fa, fb)
        ok = (fa != fb) & s.alive(ep, fts, fa, fb)
        out.append(block(EventType.FOLLOW, fts[ok], fa[ok], fb[ok]))
        out.extend(self.endings(ep, quota, epoch_keys))
        return out

    def endings(self, ep: Epoch, quota: int, epoch_keys: np.ndarray) -> list[Block]:
        """Blocks (half on existing edges, half on strangers) and disconnects, at most one per pair."""
        cfg, rng, s, g = self.cfg, self.rng, self.sampler, self.graph
        n_blocks = int(rng.poisson(cfg.block_rate * quota))
        n_disc = int(rng.poisson(cfg.disconnect_rate * quota)) if g.directed_edges else 0
        n_edge_blocks = n_blocks // 2 if g.directed_edges else 0
        idx = (rng.random(n_edge_blocks + n_disc) * g.directed_edges).astype(np.int64)
        rows = np.searchsorted(g.indptr, idx, side="right") - 1
        cols = g.indices[idx].astype(np.int64)
        strangers = n_blocks - n_edge_blocks
        sa = (rng.random(strangers) * ep.n_present).astype(np.int64)
        sb = s.actors(ep, strangers)[:strangers]
        actor = np.concatenate([rows, sa[: sb.shape[0]]])
        target = np.concatenate([cols, sb])
        is_block = np.ones(actor.shape[0], dtype=bool)
        is_block[n_edge_blocks : n_edge_blocks + n_disc] = False
        ts = s.times(ep, actor, target)
        keys = pair_keys(actor, target, self.n)
        ok = (actor != target) & s.alive(ep, ts, actor, target)
        ok &= ~in_sorted(keys, self.ended) & ~in_sorted(keys, epoch_keys)
        keep = np.flatnonzero(ok)
        keep = keep[first_unique(keys[keep])]
        actor, target, ts, keys, is_block = actor[keep], target[keep], ts[keep], keys[keep], is_block[keep]
        self.ended = np.sort(np.concatenate([self.ended, keys]))  # keys are new: no duplicates
        self.blocked = np.sort(np.concatenate([self.blocked, keys[is_block]]))
        reasons = rng.choice(BLOCK_REASONS, int(is_block.sum()))
        return [
            block(EventType.BLOCK, ts[is_block], actor[is_block], target[is_block], reasons),
            block(EventType.DISCONNECT, ts[~is_block], actor[~is_block], target[~is_block]),
        ]


def form(
    cfg: SimConfig, pop: Population, rng: np.random.Generator, on_epoch: EpochCallback | None = None
) -> Formation:
    """Run the epoch loop of ``cfg`` over ``pop``, drawing from ``rng``."""
    loop = _Loop(cfg, pop, rng)
    bounds = epoch_bounds(cfg)
    quota = quotas(cfg, pop, bounds)
    actors: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    times: list[np.ndarray] = []
    side: list[Block] = []
    made = 0
    for e in range(cfg.epochs):
        ep = loop.sampler.epoch(int(bounds[e]), int(bounds[e + 1]))
        need = int(quota[: e + 1].sum()) - made  # this epoch's quota plus any shortfall so far
        a, b, ts = loop.connect(ep, need)
        epoch_keys = np.sort(pair_keys(a, b, cfg.users))
        side.extend(loop.side_events(ep, int(quota[e]), epoch_keys))
        loop.graph.add(a, b)
        actors.append(a)
        targets.append(b)
        times.append(ts)
        made += a.shape[0]
        if on_epoch is not None:
            on_epoch(e + 1, cfg.epochs, made)
    return Formation(
        connect_actor=np.concatenate(actors),
        connect_target=np.concatenate(targets),
        connect_ts=np.concatenate(times),
        events=concat(side),
    )
