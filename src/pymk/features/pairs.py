"""Pair features of (query user, candidate) on a :class:`~pymk.features.snapshot.Snapshot`.

For a batch of query users the neighbourhood scores are computed densely, ``(b, n_users)`` float32 each,
by sparse products (``cn``: common neighbours, ``aa``: Adamic-Adar, ``ra``: resource allocation, ``wra``:
resource allocation over *decayed* pair weights, so recent shared contacts count more; ``l3``: paths of
length 3 weighted ``1/sqrt(deg a * deg b)`` over their inner users), the dot product of spectral
embeddings (``svd``), the dot product of LightGCN embeddings trained on the snapshot graph (``gnn``; all
zeros when the scorer is built without an embedding config) and personalized PageRank.
:func:`pair_features` then gathers one feature row per candidate pair. Everything reads only the
snapshot, so it inherits its point-in-time guarantee.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from pymk.embeddings.lightgcn import EmbeddingConfig
from pymk.evaluation.graph import TrainGraph
from pymk.evaluation.ppr import PersonalizedPageRank
from pymk.features.embedding import gnn_embedding, spectral_embedding
from pymk.features.snapshot import USER_FEATURES, Snapshot

#: Neighbourhood scores computed per batch, in this order.
BLOCKS = ("cn", "aa", "ra", "wra", "l3", "svd", "gnn", "ppr")
#: Query-user columns (of USER_FEATURES) repeated on each of its candidate rows.
QUERY_FEATURES = ("deg", "rows", "win_0.1", "conn_0.3", "decay_0.05", "since_last", "age")
PAIR_FEATURES: tuple[str, ...] = (
    BLOCKS
    + tuple(f"{b}_rel" for b in BLOCKS)
    + ("jaccard", "cn_share", "cn_share_c", "hpi", "hdi")
    + tuple(f"c_{f}" for f in USER_FEATURES)
    + tuple(f"q_{f}" for f in QUERY_FEATURES)
)
_QUERY_COLS = np.array([USER_FEATURES.index(f) for f in QUERY_FEATURES])


class PairScorer:
    """Dense neighbourhood and PPR blocks for batches of query users of one snapshot.

    ``ppr_iterations`` power steps (restart 0.15) of PPR on the graph of the users known at ``t``;
    ``gnn``: how to train the LightGCN embeddings behind the ``gnn`` block (``None``: the block is zeros);
    ``gnn_vectors``: embeddings trained before on this same snapshot (a loaded model), used instead.
    """

    def __init__(
        self,
        snap: Snapshot,
        *,
        ppr_iterations: int = 10,
        embedding_dim: int = 32,
        gnn: EmbeddingConfig | None = None,
        gnn_vectors: np.ndarray | None = None,
    ) -> None:
        self.snap = snap
        adj = snap.adjacency
        deg = snap.degree.astype(np.float64)
        strength = np.asarray(snap.weighted.sum(axis=1)).ravel()
        self._adj: Any = adj.astype(np.float32)
        self._aa: Any = (adj @ sp.diags(1.0 / np.log(np.maximum(deg, 2.0)))).tocsr()
        self._ra: Any = (adj @ sp.diags(1.0 / np.maximum(deg, 1.0))).tocsr()
        self._wra: Any = (snap.weighted @ sp.diags(1.0 / np.maximum(strength, 1e-12))).tocsr()
        half = sp.diags(1.0 / np.sqrt(np.maximum(deg, 1.0)))
        self._l3_left: Any = (adj @ half).tocsr()
        self._l3_right_t: Any = (half @ adj).T.tocsr().astype(np.float32)
        self._emb = spectral_embedding(adj, embedding_dim)
        if gnn_vectors is None and gnn is not None:
            gnn_vectors = gnn_embedding(adj, gnn)
        #: float32 ``(n_users, dim)`` LightGCN embeddings of the snapshot, or ``None``.
        self.gnn_vectors = gnn_vectors
        known = np.flatnonzero(snap.known)
        self._known = known
        self._local = np.full(snap.n_users, -1, dtype=np.int64)
        self._local[known] = np.arange(known.shape[0])
        self._ppr: PersonalizedPageRank | None = None
        if known.shape[0]:
            sub = adj[known][:, known].tocoo()
            upper = sub.row < sub.col
            self._ppr = PersonalizedPageRank(iterations=ppr_iterations)
            self._ppr.fit_graph(TrainGraph.from_pairs(known.shape[0], sub.row[upper], sub.col[upper]))

    def blocks(self, users: np.ndarray) -> dict[str, np.ndarray]:
        """``{name: float32 (b, n_users)}`` for :data:`BLOCKS`; ``users`` int ``(b,)``.

        A user unknown at ``t`` (cold start) gets all-zero rows: it has no neighbourhood to borrow.
        """
        out: dict[str, np.ndarray] = {}
        adj = self.snap.adjacency
        left = adj[users]
        for name, right in (("cn", adj), ("aa", self._aa), ("ra", self._ra)):
            lhs = left if name == "cn" else right[users]
            out[name] = np.asarray((lhs @ adj).toarray(), dtype=np.float32)
        out["wra"] = np.asarray((self._wra[users] @ self.snap.weighted).toarray(), dtype=np.float32)
        two_hop = np.asarray((self._l3_left[users] @ adj).toarray(), dtype=np.float32)
        # dense @ sparse as (sparse^T @ dense^T)^T: cost nnz(A) * b, whatever the density of two_hop.
        out["l3"] = np.ascontiguousarray((self._l3_right_t @ two_hop.T).T)
        out["svd"] = self._emb[users] @ self._emb.T
        if self.gnn_vectors is not None:
            out["gnn"] = self.gnn_vectors[users] @ self.gnn_vectors.T
        else:
            out["gnn"] = np.zeros((users.shape[0], self.snap.n_users), dtype=np.float32)
        ppr = np.zeros((users.shape[0], self.snap.n_users), dtype=np.float32)
        local = self._local[users]
        seen = local >= 0  # a user unknown at t has no PPR row (not the last known user's: index -1)
        if self._ppr is not None and seen.any():
            rows = np.flatnonzero(seen)
            ppr[np.ix_(rows, self._known)] = self._ppr.score(local[seen].astype(np.int32))
        out["ppr"] = ppr
        return out


@dataclass(frozen=True)
class PairBatch:
    """Candidate pairs of one batch: row ``i`` of ``features`` is (``users[rows[i]]``, ``cols[i]``)."""

    users: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    features: np.ndarray


def pair_features(
    snap: Snapshot, users: np.ndarray, blocks: dict[str, np.ndarray], rows: np.ndarray, cols: np.ndarray
) -> np.ndarray:
    """float32 ``(m, len(PAIR_FEATURES))`` for pairs ``(users[rows], cols)`` (rows int ``(m,)``)."""
    m = rows.shape[0]
    out = np.empty((m, len(PAIR_FEATURES)), dtype=np.float32)
    for j, name in enumerate(BLOCKS):
        out[:, j] = blocks[name][rows, cols]
    k = len(BLOCKS)
    # Each score relative to the user's best candidate: invariant to how dense the snapshot is, so a
    # ranker trained on an earlier (sparser) snapshot transfers to the end of train.
    row_max = np.zeros((users.shape[0], k), dtype=np.float32)
    np.maximum.at(row_max, rows, out[:, :k])
    out[:, k : 2 * k] = out[:, :k] / np.maximum(row_max[rows], 1e-12)
    k *= 2
    deg = snap.degree.astype(np.float32)
    du, dc, cn = deg[users][rows], deg[cols], out[:, 0]
    # Shares of mutual friends: a pair missing from a dense circle has cn close to min(du, dc) (hub-promoted
    # index) — the signature of an unrecorded friendship that raw counts blur.
    out[:, k] = cn / np.maximum(du + dc - cn, 1.0)
    out[:, k + 1] = cn / np.maximum(du, 1.0)
    out[:, k + 2] = cn / np.maximum(dc, 1.0)
    out[:, k + 3] = cn / np.maximum(np.minimum(du, dc), 1.0)
    out[:, k + 4] = cn / np.maximum(np.maximum(du, dc), 1.0)
    k += 5
    nu = len(USER_FEATURES)
    out[:, k : k + nu] = snap.users[cols]
    out[:, k + nu :] = snap.users[users][:, _QUERY_COLS][rows]
    return out
