"""Pair features of (query user, candidate) on a :class:`~pymk.features.snapshot.Snapshot`.

For a batch of query users the neighbourhood scores that pick candidates are computed as *sparse rows* over
the users they reach (:class:`Blocks`), by sparse products whose cost follows the users' 2-hop neighbourhoods,
not the size of the graph: ``cn`` (common neighbours), ``aa`` (Adamic-Adar), ``ra`` (resource allocation),
``wra`` (resource allocation over *decayed* pair weights, so recent shared contacts count more) and ``ppr``
(bounded-work personalized PageRank, :mod:`pymk.features.local_ppr`). The scores that only describe a pair are
computed at the candidate pairs alone: ``l3`` (paths of length 3 weighted ``1/sqrt(deg a * deg b)`` over their
inner users), ``svd`` (dot product of spectral embeddings) and ``gnn`` (dot product of LightGCN embeddings
trained on the snapshot graph; zeros when the scorer is built without an embedding config — with one, the
same vectors feed the ``gnn`` candidate source, :mod:`pymk.candidates.ann`) and ``ra_done`` / ``cn_done``
(resource allocation and common neighbours on the graph completed by every user's best ``ra`` guesses,
:mod:`pymk.features.completion`); both users' k-core number, PageRank and mean neighbour degree
(:mod:`pymk.features.centrality`, when switched on) close the row. :func:`pair_features` then builds
one feature row per candidate pair. Everything reads only the snapshot, so it inherits its point-in-time
guarantee; a request for one user costs the same on a graph of a thousand users and of a million. Where the C
kernels are built (any ``pip install``), :mod:`pymk.features.native` computes the same values without SciPy's
per-call overheads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from pymk.embeddings.lightgcn import EmbeddingConfig
from pymk.features import native
from pymk.features.centrality import CENTRALITY_FEATURES, pair_columns
from pymk.features.completion import COMPLETION_FEATURES, CompletedGraph, CompletionConfig
from pymk.features.embedding import gnn_embedding, spectral_embedding
from pymk.features.local_ppr import LocalPageRank
from pymk.features.snapshot import ABS_WINDOWS, USER_FEATURES, Snapshot

#: Neighbourhood scores computed per batch, in this order.
BLOCKS = ("cn", "aa", "ra", "wra", "l3", "svd", "gnn", "ppr")
#: Query-user columns (of USER_FEATURES) repeated on each of its candidate rows.
QUERY_FEATURES = ("deg", "rows", "win_0.1", "conn_0.3", "decay_0.05", "since_last", "age") + tuple(
    f"rows_{w}" for w in ABS_WINDOWS
)
#: The columns computed from the batch's blocks (in C where the kernels are built).
LOCAL_FEATURES: tuple[str, ...] = (
    BLOCKS
    + tuple(f"{b}_rel" for b in BLOCKS)
    + ("jaccard", "cn_share", "cn_share_c", "hpi", "hdi")
    + tuple(f"c_{f}" for f in USER_FEATURES)
    + tuple(f"q_{f}" for f in QUERY_FEATURES)
)
#: Every pair feature of the default row, in order: the local ones, then the completed graph's
#: (:mod:`pymk.features.completion`; zeros when the scorer has none).
PAIR_FEATURES: tuple[str, ...] = LOCAL_FEATURES + COMPLETION_FEATURES


def pair_feature_names(centrality: bool = False) -> tuple[str, ...]:
    """The columns of :func:`pair_features`: :data:`PAIR_FEATURES`, then with ``centrality`` both users'
    place in the whole graph (:data:`~pymk.features.centrality.CENTRALITY_FEATURES`)."""
    return PAIR_FEATURES + (CENTRALITY_FEATURES if centrality else ())


_QUERY_COLS = np.array([USER_FEATURES.index(f) for f in QUERY_FEATURES])


@dataclass(frozen=True)
class Blocks:
    """Neighbourhood scores of a batch of query users ``users`` (int64 ``(b,)``).

    ``rows[name]``: float32 CSR ``(b, n_users)`` for :data:`ROW_BLOCKS`, canonical (sorted, no duplicate
    entries); a user not reached has no entry (score 0). ``two_hop``: the length-2 path weights behind
    ``l3``, same layout. (``l3``, ``svd`` and ``gnn`` are computed at candidate pairs only.)
    """

    users: np.ndarray
    rows: dict[str, sp.csr_matrix]
    two_hop: sp.csr_matrix
    #: From the C kernels: the 2-hop pattern shared by cn/aa/ra/wra/two_hop, and their data arrays.
    shared: tuple[sp.csr_matrix, dict[str, np.ndarray]] | None = None

    def dense(self, name: str) -> np.ndarray:
        """float32 ``(b, n_users)`` of row block ``name`` (small graphs, tests)."""
        out: np.ndarray = self.rows[name].toarray()
        return out

    def at(self, name: str, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """float32 ``(m,)``: row block ``name`` at pairs ``(users[rows], cols)``."""
        return sparse_at(self.rows[name], rows, cols)


#: Scores kept as sparse rows per query user (candidate sources and features).
ROW_BLOCKS = ("cn", "aa", "ra", "wra", "ppr")


class PairScorer:
    """Neighbourhood blocks for batches of query users of one snapshot, and pair-only scores.

    ``ppr_iterations`` steps (restart 0.15) of bounded-work PPR with ``ppr_tolerance``
    (:class:`~pymk.features.local_ppr.LocalPageRank`); ``gnn``: how to train the LightGCN embeddings
    behind the ``gnn`` column (``None``: the column is zeros); ``gnn_vectors``: embeddings trained before on
    this same snapshot (a loaded model), used instead; ``completion``: how to complete the graph behind
    ``ra_done`` / ``cn_done`` (``None``: those columns are zeros); ``centrality``: whether rows end with
    both users' centrality columns (:func:`pair_feature_names`).
    """

    def __init__(
        self,
        snap: Snapshot,
        *,
        ppr_iterations: int = 10,
        ppr_tolerance: float = 1e-4,
        embedding_dim: int = 32,
        gnn: EmbeddingConfig | None = None,
        gnn_vectors: np.ndarray | None = None,
        completion: CompletionConfig | None = None,
        centrality: bool = False,
    ) -> None:
        self.snap = snap
        adj = snap.adjacency
        #: The C kernels (:mod:`pymk.features.native`) when built; else the SciPy products below.
        self.native = _kernels(snap)
        if self.native is None:
            deg = snap.degree.astype(np.float64)
            strength = np.asarray(snap.weighted.sum(axis=1)).ravel()
            self._aa: Any = (adj @ sp.diags(1.0 / np.log(np.maximum(deg, 2.0)))).tocsr()
            self._ra: Any = (adj @ sp.diags(1.0 / np.maximum(deg, 1.0))).tocsr()
            self._wra: Any = (snap.weighted @ sp.diags(1.0 / np.maximum(strength, 1e-12))).tocsr()
            half = sp.diags(1.0 / np.sqrt(np.maximum(deg, 1.0)))
            self._l3_left: Any = (adj @ half).tocsr()
            self._l3_right_t: Any = (half @ adj).T.tocsr().astype(np.float32)
        #: float32 ``(n_users, embedding_dim)`` spectral embeddings behind ``svd``.
        self.embedding = spectral_embedding(adj, embedding_dim)
        if gnn_vectors is None and gnn is not None:
            gnn_vectors = gnn_embedding(adj, gnn)
        #: float32 ``(n_users, dim)`` LightGCN embeddings of the snapshot, or ``None``.
        self.gnn_vectors = gnn_vectors
        self._ppr = LocalPageRank(
            adj, iterations=ppr_iterations, tolerance=ppr_tolerance, kernels=self.native
        )
        #: The completed graph behind ``ra_done`` / ``cn_done``, or ``None``.
        self.completed = None if completion is None else CompletedGraph(adj, completion)
        #: Whether rows end with the centrality columns (:mod:`pymk.features.centrality`).
        self.centrality = centrality
        #: The names of the columns :func:`pair_features` gives on this scorer.
        self.feature_names = pair_feature_names(centrality)

    def blocks(self, users: np.ndarray) -> Blocks:
        """The :class:`Blocks` of ``users`` (int ``(b,)``).

        A user unknown at ``t`` (cold start) gets empty rows: it has no neighbourhood to borrow.
        """
        users = np.asarray(users, dtype=np.int64)
        if self.native is not None:
            pattern, data = self.native.neighbourhood(users)
            shape = pattern.shape

            def on_pattern(name: str) -> sp.csr_matrix:
                out = sp.csr_matrix((data[name], pattern.indices, pattern.indptr), shape=shape)
                out.has_canonical_format = True
                return out

            rows = {name: on_pattern(name) for name in ("cn", "aa", "ra", "wra")}
            rows["ppr"] = self._ppr.scores(users)
            return Blocks(users, rows, on_pattern("two_hop"), (pattern, data))
        adj, weighted = self.snap.adjacency, self.snap.weighted
        rows = {
            "cn": _rows32(adj[users] @ adj),
            "aa": _rows32(self._aa[users] @ adj),
            "ra": _rows32(self._ra[users] @ adj),
            "wra": _rows32(self._wra[users] @ weighted),
            "ppr": self._ppr.scores(users),
        }
        return Blocks(users, rows, _rows32(self._l3_left[users] @ adj))

    def l3(self, blocks: Blocks, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """float32 ``(m,)`` length-3 path scores of pairs ``(blocks.users[rows], cols)``, rows sorted.

        Per query user ``u``: its 2-hop row is scattered into a dense scratch vector (reset afterwards),
        and each candidate's weighted neighbour row is multiplied with it — ``two_hop[u] . l3_right[:, c]``
        over its candidates only. The work is the candidates' degrees plus ``u``'s 2-hop size, where the
        full length-3 row would be the whole 3-hop neighbourhood.
        """
        if self.native is not None:
            return self.native.l3(blocks.two_hop, rows, cols)
        out = np.zeros(rows.shape[0], dtype=np.float32)
        bounds = np.searchsorted(rows, np.arange(blocks.users.shape[0] + 1))
        two_hop = blocks.two_hop
        right = self._l3_right_t[cols]  # row p: the neighbours of cols[p], weighted
        scratch = np.zeros(two_hop.shape[1], dtype=np.float32)
        for i in np.flatnonzero(np.diff(bounds) > 0):
            lo, hi = bounds[i], bounds[i + 1]
            a, b = two_hop.indptr[i], two_hop.indptr[i + 1]
            if a == b:
                continue
            reached = two_hop.indices[a:b]
            scratch[reached] = two_hop.data[a:b]
            out[lo:hi] = right[lo:hi] @ scratch
            scratch[reached] = 0.0
        return out

    def svd(self, users: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """float32 ``(m,)`` spectral-embedding dot products of pairs ``(users[i], cols[i])``."""
        return _dots(self.embedding, users, cols)

    def gnn(self, users: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """float32 ``(m,)`` LightGCN-embedding dot products of pairs ``(users[i], cols[i])`` (zeros
        without embeddings)."""
        if self.gnn_vectors is None:
            return np.zeros(users.shape[0], dtype=np.float32)
        return _dots(self.gnn_vectors, users, cols)


def _dots(vectors: np.ndarray, users: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """float32 ``(m,)``: ``vectors[users[i]] . vectors[cols[i]]``, summed in float64 (as the C kernel)."""
    out: np.ndarray = np.einsum(
        "ij,ij->i", vectors[users].astype(np.float64), vectors[cols].astype(np.float64)
    ).astype(np.float32)
    return out


def _kernels(snap: Snapshot) -> native.GraphKernels | None:
    """The C kernels of ``snap``'s graph, or None (not built, switched off, or weights off-pattern)."""
    if not native.available():
        return None
    try:
        return native.GraphKernels(snap.adjacency, snap.weighted, snap.degree)
    except ValueError:
        return None


def _rows32(product: Any) -> sp.csr_matrix:
    """A sparse product as canonical float32 CSR."""
    out = sp.csr_matrix(product, dtype=np.float32)
    out.sum_duplicates()
    return out


def sparse_at(matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """float32 ``(m,)``: canonical CSR ``matrix`` at ``(rows, cols)`` (0 where it has no entry)."""
    if matrix.nnz == 0 or rows.shape[0] == 0:
        return np.zeros(rows.shape[0], dtype=np.float32)
    if native.available():
        pos = native.lookup(matrix, rows, cols)
        found: np.ndarray = np.where(pos >= 0, matrix.data[pos], 0.0).astype(np.float32)
        return found
    n = np.int64(matrix.shape[1])
    keys = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr)) * n
    keys += matrix.indices
    want = rows.astype(np.int64) * n + cols
    pos = np.minimum(np.searchsorted(keys, want), keys.shape[0] - 1)
    out: np.ndarray = np.where(keys[pos] == want, matrix.data[pos], 0.0).astype(np.float32)
    return out


@dataclass(frozen=True)
class PairBatch:
    """Candidate pairs of one batch: row ``i`` of ``features`` is (``users[rows[i]]``, ``cols[i]``)."""

    users: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    features: np.ndarray


def pair_features(scorer: PairScorer, blocks: Blocks, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """float32 ``(m, len(scorer.feature_names))`` for pairs ``(blocks.users[rows], cols)`` (rows int ``(m,)``,
    sorted)."""
    local = local_features(scorer, blocks, rows, cols)
    if scorer.completed is None:
        far = np.zeros((rows.shape[0], len(COMPLETION_FEATURES)), dtype=np.float32)
    else:
        far = scorer.completed.at(blocks.users, rows, cols)
    parts = [local, far]
    if scorer.centrality:
        parts.append(pair_columns(scorer.snap.centrality, blocks.users[rows], cols))
    return np.hstack(parts)


def local_features(scorer: PairScorer, blocks: Blocks, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """float32 ``(m, len(LOCAL_FEATURES))``: the block-based columns of :func:`pair_features`."""
    snap, users = scorer.snap, blocks.users
    m = rows.shape[0]
    if scorer.native is not None and blocks.shared is not None:
        pattern, data = blocks.shared
        return scorer.native.pair_features(
            users,
            rows,
            cols,
            data,
            pattern,
            scorer.l3(blocks, rows, cols),
            scorer.embedding,
            scorer.gnn_vectors,
            blocks.rows["ppr"],
            snap.users,
            _QUERY_COLS,
            len(LOCAL_FEATURES),
        )
    out = np.empty((m, len(LOCAL_FEATURES)), dtype=np.float32)
    for j, name in enumerate(BLOCKS):
        if name == "l3":
            out[:, j] = scorer.l3(blocks, rows, cols)
        elif name == "svd":
            out[:, j] = scorer.svd(users[rows], cols)
        elif name == "gnn":
            out[:, j] = scorer.gnn(users[rows], cols)
        else:
            out[:, j] = blocks.at(name, rows, cols)
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
