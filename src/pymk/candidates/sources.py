"""Candidate sources, each bounded per query user, merged into one candidate set.

Sources (DESIGN §9 ``candidates/``):

- ``fof``: friends-of-friends, the ``fof`` best by Adamic-Adar (mutual connections weighted by rarity);
- ``ppr``: the ``ppr`` best by personalized PageRank (reaches beyond two hops);
- ``gnn``: the ``gnn`` nearest by LightGCN embedding similarity (reaches users with no short path; none
  without embeddings — LightGCN is off by default: see :class:`~pymk.models.pipeline.PipelineConfig`).
  An :class:`~pymk.candidates.ann.EmbeddingIndex` answers it: exact on small graphs, an HNSW index
  (usearch) above :attr:`~pymk.candidates.ann.AnnConfig.exact_below` users;
- ``active``: the ``active`` users with the highest decayed activity at ``t`` (same list for everyone);
- ``popular``: the ``popular`` users of highest degree (cold-start backfill).

A candidate is never the query user, one of its neighbours at ``t``, or a user unseen before ``t``.
Every source is a set of pairs ``(row, column)``: the work per query user follows the scores it reaches
(:class:`~pymk.features.pairs.Blocks`), not the number of users.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from pymk.candidates.ann import AnnConfig, EmbeddingIndex, best_per_row
from pymk.features.native import GraphKernels
from pymk.features.pairs import Blocks, sparse_at
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
    #: How the ``gnn`` source searches the embedding space.
    ann: AnnConfig = field(default_factory=AnnConfig)


class CandidateGenerator:
    """Candidate sets for batches of query users of one snapshot."""

    def __init__(
        self,
        snap: Snapshot,
        config: CandidateConfig | None = None,
        kernels: GraphKernels | None = None,
        vectors: np.ndarray | None = None,
    ) -> None:
        self.snap = snap
        self.config = config or CandidateConfig()
        known = snap.known
        self._global = {
            "active": _top_global(np.where(known, snap.feature(ACTIVITY), -np.inf), self.config.active),
            "popular": _top_global(np.where(known, snap.degree, -1).astype(np.float64), self.config.popular),
        }
        #: The C kernels of the snapshot graph (:mod:`pymk.features.native`): :meth:`generate` in one call.
        self.kernels = kernels
        #: The ``gnn`` source's index over the known users' embedding ``vectors`` (``None``: no source).
        self.index = None
        if vectors is not None and self.config.gnn > 0:
            self.index = EmbeddingIndex(vectors, known, self.config.ann)
        self._shared = np.unique(np.concatenate(list(self._global.values())))
        self._known8 = known.astype(np.uint8)

    def valid(self, users: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """bool ``(m,)``: is ``cols[i]`` known and neither ``users[rows[i]]`` nor one of its neighbours?"""
        linked = self.snap.adjacency[users]
        linked.sum_duplicates()  # canonical, as sparse_at needs
        ok: np.ndarray = self.snap.known[cols] & (cols != users[rows]) & ~(sparse_at(linked, rows, cols) > 0)
        return ok

    def sources(self, users: np.ndarray, blocks: Blocks) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{source: (rows, cols)}`` candidate pairs (int64, sorted by row then column) of ``users``;
        ``blocks`` as from ``PairScorer.blocks(users)``."""
        out = {
            "fof": self._top_per_row(users, blocks.rows["aa"], self.config.fof),
            "ppr": self._top_per_row(users, blocks.rows["ppr"], self.config.ppr),
        }
        empty = np.zeros(0, dtype=np.int64)
        out["gnn"] = (empty, empty)
        if self.index is not None:
            out["gnn"] = self.index.nearest(users, self.config.gnn, self.snap.adjacency[users])
        b = users.shape[0]
        for name, top in self._global.items():
            rows = np.repeat(np.arange(b, dtype=np.int64), top.shape[0])
            cols = np.tile(np.sort(top), b)
            keep = self.valid(users, rows, cols)
            out[name] = (rows[keep], cols[keep])
        return out

    def generate(self, users: np.ndarray, blocks: Blocks) -> tuple[np.ndarray, np.ndarray]:
        """Merged candidates as pairs ``(rows, cols)`` int64 ``(m,)``, sorted by row then column."""
        if self.kernels is not None and self.index is None:
            c = self.config
            return self.kernels.candidates(
                users, self._known8, blocks.rows["aa"], c.fof, blocks.rows["ppr"], c.ppr, self._shared
            )
        n = np.int64(self.snap.n_users)
        return _split(
            np.unique(np.concatenate([r * n + c for r, c in self.sources(users, blocks).values()])), n
        )

    def _top_per_row(self, users: np.ndarray, score: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Each row's ``k`` best positive valid entries of canonical CSR ``score`` (ties: lower column)."""
        rows = np.repeat(np.arange(score.shape[0], dtype=np.int64), np.diff(score.indptr))
        cols = score.indices.astype(np.int64)
        keep = self.valid(users, rows, cols)
        return best_per_row(rows[keep], cols[keep], score.data[keep], k, self.snap.n_users)


def _split(keys: np.ndarray, n: np.int64) -> tuple[np.ndarray, np.ndarray]:
    """Pair keys ``row * n + col`` back into ``(rows, cols)``."""
    return keys // n, keys % n


def _top_global(score: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest finite, positive scores."""
    k = min(k, score.shape[0])
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    top = np.argpartition(-score, k - 1)[:k]
    top = top[np.isfinite(score[top]) & (score[top] > 0)]
    out: np.ndarray = top.astype(np.int64)
    return out
