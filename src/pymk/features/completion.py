"""Resource allocation on a *completed* graph: a pair signal two steps beyond the pair's own neighbourhood.

A snapshot misses links that exist but have not been seen yet (on a random hold-out, a fifth of every
user's edges). :class:`CompletedGraph` guesses them first — each user's ``ceil(share * degree)`` best
non-neighbours by resource allocation (``ra``; ties to the lower user index), symmetrised, added as edges
of weight ``weight`` — and then measures the candidate pairs on the completed graph ``done = A + weight *
max(G, G^T)``:

- ``ra_done[u, c] = sum_w done[u, w] * done[w, c] / strength(w)`` (resource allocation over the completed
  graph, ``strength`` its weighted degree);
- ``cn_done[u, c] = sum_w done[u, w] * done[w, c]`` (weighted common neighbours).

Chosen on validation inside the train window (a trial of ``benchmarks/feature_trials.py`` at ``--depth``
1, 2 and 3, then ``benchmarks/pipeline_variants.py``; benchmarks/RESULTS.md): it lifted ego-Facebook's
recall@20 on all three folds (+.004, +.006, +.004) and left the timed sets where they were on average.
The guesses need every user's ``ra`` row once per snapshot; the pair values cost the candidates'
completed degrees. Everything reads only the snapshot's graph, so the point-in-time guarantee carries
over.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from pymk.features import native

#: The columns :meth:`CompletedGraph.at` returns, in order.
COMPLETION_FEATURES = ("ra_done", "cn_done")


@dataclass(frozen=True)
class CompletionConfig:
    """How the graph is completed: each user guesses its ``ceil(share * degree)`` best non-neighbours
    by ``ra``; each guessed edge weighs ``weight`` (a seen edge 1)."""

    share: float = 0.5
    weight: float = 0.3
    #: Users whose ``ra`` rows are computed at once while guessing without the C kernels (memory: their
    #: 2-hop neighbourhoods).
    batch: int = 2048


class CompletedGraph:
    """The completed graph of one symmetric 0/1 adjacency ``adjacency`` (CSR ``(n, n)``, no self loops)."""

    def __init__(self, adjacency: sp.spmatrix, config: CompletionConfig | None = None) -> None:
        config = config or CompletionConfig()
        adj = sp.csr_matrix(adjacency, dtype=np.float64)
        degree = np.diff(adj.indptr).astype(np.float64)
        want = np.ceil(config.share * degree).astype(np.int64)
        guess = native.ra_guesses(adj, want) if native.available() else guesses(adj, want, config.batch)
        done = (adj + config.weight * guess.maximum(guess.T)).tocsr()
        done.sort_indices()
        strength = np.asarray(done.sum(axis=1)).ravel()
        #: float64 CSR ``(n, n)``: the completed graph (sorted indices), and one over its weighted degrees.
        self.done = done
        self.inv_strength = 1.0 / np.maximum(strength, 1e-12)
        self._native = native.WeightedPairs(done, self.inv_strength) if native.available() else None

    def at(self, users: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """float32 ``(m, len(COMPLETION_FEATURES))``: ``ra_done`` and ``cn_done`` of the pairs
        ``(users[rows[p]], cols[p])`` (``rows`` int ``(m,)``, sorted).

        The work is the pairs' completed degrees (the C kernel walks the smaller side of each pair), not
        the users' two-hop neighbourhoods.
        """
        if self._native is not None:
            return self._native.at(users, rows, cols)
        users, rows, cols = (np.asarray(a, dtype=np.int64) for a in (users, rows, cols))
        out = np.zeros((rows.shape[0], 2), dtype=np.float32)
        if rows.shape[0]:
            both = self.done[users[rows]].multiply(self.done[cols]).tocsr()
            out[:, 0] = both @ self.inv_strength
            out[:, 1] = np.asarray(both.sum(axis=1)).ravel()
        return out


def guesses(adj: sp.csr_matrix, want: np.ndarray, batch: int = 2048) -> sp.csr_matrix:
    """0/1 CSR ``(n, n)``: row ``u`` holds ``u``'s ``want[u]`` best non-neighbours (not ``u`` itself) by
    resource allocation on ``adj``, ties to the lower index; fewer where its two-hop reach is smaller."""
    n = adj.shape[0]
    degree = np.diff(adj.indptr).astype(np.float64)
    spread = (adj @ sp.diags(1.0 / np.maximum(degree, 1.0))).tocsr()
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    for lo in range(0, n, batch):
        hi = min(lo + batch, n)
        if not want[lo:hi].any():
            continue
        ra = (spread[lo:hi] @ adj).tocoo()
        r, c, v = ra.row.astype(np.int64), ra.col.astype(np.int64), ra.data
        own = adj[lo:hi].tocoo()
        itself = np.arange(hi - lo) * n + np.arange(lo, hi)
        taken = np.concatenate([own.row.astype(np.int64) * n + own.col, itself])
        keep = ~np.isin(r * n + c, taken)
        r, c, v = r[keep], c[keep], v[keep]
        order = np.lexsort((c, -v, r))  # per row: best first, ties to the lower index
        r, c = r[order], c[order]
        starts = np.searchsorted(r, np.arange(hi - lo))
        rank = np.arange(r.shape[0]) - starts[r]
        top = rank < want[lo + r]
        rows.append(r[top] + lo)
        cols.append(c[top])
    if not rows:
        return sp.csr_matrix((n, n), dtype=np.float64)
    r, c = np.concatenate(rows), np.concatenate(cols)
    return sp.csr_matrix((np.ones(r.shape[0]), (r, c)), shape=(n, n))
