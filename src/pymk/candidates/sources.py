"""Candidate sources, each bounded per query user, merged into one candidate set.

Sources (DESIGN §9 ``candidates/``):

- ``fof``: friends-of-friends, the ``fof`` best by Adamic-Adar (mutual connections weighted by rarity);
- ``ppr``: the ``ppr`` best by personalized PageRank (reaches beyond two hops);
- ``gnn``: the ``gnn`` nearest by LightGCN embedding similarity (reaches users with no short path; none
  when the scorer has no embeddings). The search is exact — one dense product per batch of query users,
  which the pair features need anyway — rather than an ANN index: every other block of a batch (PPR,
  two-hop products) is already dense over all users, so an index would not shorten a request until the
  rest of the scorer is sparse too, at millions of users;
- ``active``: the ``active`` users with the highest decayed activity at ``t`` (same list for everyone);
- ``popular``: the ``popular`` users of highest degree (cold-start backfill).

A candidate is never the query user, one of its neighbours at ``t``, or a user unseen before ``t``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pymk.features.snapshot import ACTIVITY, Snapshot

SOURCES = ("fof", "ppr", "gnn", "active", "popular")


@dataclass(frozen=True)
class CandidateConfig:
    """Per-user budget of each source (the merged set holds at most their sum)."""

    fof: int = 200
    ppr: int = 200
    gnn: int = 100
    active: int = 300
    popular: int = 100


class CandidateGenerator:
    """Candidate sets for batches of query users of one snapshot."""

    def __init__(self, snap: Snapshot, config: CandidateConfig | None = None) -> None:
        self.snap = snap
        self.config = config or CandidateConfig()
        known = snap.known
        self._global = {
            "active": _top_global(np.where(known, snap.feature(ACTIVITY), -np.inf), self.config.active),
            "popular": _top_global(np.where(known, snap.degree, -1).astype(np.float64), self.config.popular),
        }

    def valid(self, users: np.ndarray) -> np.ndarray:
        """bool ``(b, n)``: known users that are neither the query user nor its neighbours."""
        b = users.shape[0]
        ok = np.broadcast_to(self.snap.known, (b, self.snap.n_users)).copy()
        sub = self.snap.adjacency[users]
        ok[np.repeat(np.arange(b), np.diff(sub.indptr)), sub.indices] = False
        ok[np.arange(b), users] = False
        return ok

    def sources(self, users: np.ndarray, blocks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``{source: bool (b, n)}`` candidate masks; ``blocks`` as from ``PairScorer.blocks(users)``."""
        ok = self.valid(users)
        out = {
            "fof": _top_per_row(blocks["aa"], ok, self.config.fof),
            "ppr": _top_per_row(blocks["ppr"], ok, self.config.ppr),
            "gnn": _top_per_row(blocks["gnn"], ok, self.config.gnn),
        }
        for name, top in self._global.items():
            mask = np.zeros_like(ok)
            mask[:, top] = True
            out[name] = mask & ok
        return out

    def generate(self, users: np.ndarray, blocks: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Merged candidates as pairs ``(rows, cols)`` int64 ``(m,)``, sorted by row then column."""
        union = np.logical_or.reduce(list(self.sources(users, blocks).values()))
        rows, cols = np.nonzero(union)
        return rows.astype(np.int64), cols.astype(np.int64)


def _top_global(score: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest finite, positive scores."""
    k = min(k, score.shape[0])
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    top = np.argpartition(-score, k - 1)[:k]
    top = top[np.isfinite(score[top]) & (score[top] > 0)]
    out: np.ndarray = top.astype(np.int64)
    return out


def _top_per_row(score: np.ndarray, ok: np.ndarray, k: int) -> np.ndarray:
    """bool ``(b, n)``: each row's ``k`` best positive scores among ``ok`` entries."""
    masked = np.where(ok, score, 0.0).astype(np.float32)
    b, n = masked.shape
    k = min(k, n)
    out = np.zeros((b, n), dtype=bool)
    if k == 0:
        return out
    top = np.argpartition(-masked, k - 1, axis=1)[:, :k]
    rows = np.repeat(np.arange(b), k)
    keep = masked[rows, top.ravel()] > 0
    out[rows[keep], top.ravel()[keep]] = True
    return out
