"""Where each user stands in the whole graph: k-core number, global PageRank, mean neighbour degree.

The node-level predictors of stacked link prediction (Ghasemian et al. 2020): a candidate deep in the
graph's core, or whose friends are well connected, may be likelier to gain links than one of the same degree
on the periphery. Per user (:func:`user_centrality`, float32 ``(n, 4)`` in :data:`CENTRALITY` order):

- ``core``: the largest ``k`` such that the user belongs to the graph's ``k``-core (0 for a user not seen);
- ``core_share``: ``core`` over the user's degree (how much of its degree lies inside that core);
- ``pagerank``: global PageRank (damping 0.85, dangling users spread uniformly; networkx's definition)
  times the number of users, so 1 is the average at every size;
- ``nbr_deg``: the mean degree of the user's neighbours.

Each pair gets the candidate's then the query user's value of each (:data:`CENTRALITY_FEATURES`). Off by
default (``PipelineConfig.centrality``): it won on validation inside the train window but lost on the test
part (benchmarks/RESULTS.md, "node centrality"). Everything is computed from the snapshot's adjacency alone,
so it keeps the snapshot's point-in-time guarantee; it is computed once per snapshot
(:attr:`pymk.features.snapshot.Snapshot.centrality`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from pymk.features import native

#: Per-user values, in column order.
CENTRALITY = ("core", "core_share", "pagerank", "nbr_deg")
#: The pair columns: the candidate's (``c_``) then the query user's (``q_``) value of each.
CENTRALITY_FEATURES: tuple[str, ...] = tuple(f"{side}_{name}" for name in CENTRALITY for side in ("c", "q"))

PAGERANK_DAMPING = 0.85
#: PageRank stops when the L1 change of the (sum-1) vector is below ``n * PAGERANK_TOLERANCE`` (networkx).
PAGERANK_TOLERANCE = 1e-6
PAGERANK_MAX_ITERATIONS = 100


def core_numbers(adjacency: Any) -> np.ndarray:
    """int64 ``(n,)``: each user's k-core number in the symmetric 0/1 CSR ``adjacency`` (no self-loops).

    With the C kernels built, :func:`pymk.features.native.core_numbers` (linear in the edges). Otherwise
    peeling by levels: at level ``k`` every remaining user of remaining degree ``<= k`` is removed (core
    ``k``), its neighbours' degrees drop, and removal repeats until none is left at that level; ``k`` then
    rises to the smallest remaining degree. Each round is one sparse product, so the cost is ``O(rounds ·
    edges)``; rounds grow with the depth of the core, not the size of the graph.
    """
    adj = sp.csr_matrix(adjacency)
    if native.available():
        return native.core_numbers(adj)
    n = adj.shape[0]
    degree = np.diff(adj.indptr).astype(np.int64)
    core = np.zeros(n, dtype=np.int64)
    alive = degree > 0
    k = 0
    while alive.any():
        k = max(k, int(degree[alive].min()))
        peel = alive & (degree <= k)
        while peel.any():
            core[peel] = k
            alive &= ~peel
            degree -= (adj @ peel.astype(np.float64)).astype(np.int64)
            peel = alive & (degree <= k)
    return core


def pagerank(adjacency: Any) -> np.ndarray:
    """float64 ``(n,)``: global PageRank of the row-normalised ``adjacency`` (sums to 1), as networkx's
    ``pagerank`` computes it: uniform restart, users without neighbours spread their mass uniformly."""
    adj = sp.csr_matrix(adjacency, dtype=np.float64)
    n = adj.shape[0]
    if n == 0:
        return np.zeros(0)
    out_degree = np.asarray(adj.sum(axis=1)).ravel()
    dangling = out_degree == 0
    walk = (sp.diags(np.where(dangling, 0.0, 1.0 / np.maximum(out_degree, 1e-300))) @ adj).T.tocsr()
    x = np.full(n, 1.0 / n)
    for _ in range(PAGERANK_MAX_ITERATIONS):
        last = x
        x = PAGERANK_DAMPING * (walk @ x + x[dangling].sum() / n) + (1.0 - PAGERANK_DAMPING) / n
        if np.abs(x - last).sum() < n * PAGERANK_TOLERANCE:
            break
    result: np.ndarray = x
    return result


def user_centrality(adjacency: Any, degree: np.ndarray) -> np.ndarray:
    """float32 ``(n, len(CENTRALITY))``: every user's values, in :data:`CENTRALITY` order."""
    deg = degree.astype(np.float64)
    core = core_numbers(adjacency).astype(np.float64)
    neighbour_degree = (sp.csr_matrix(adjacency, dtype=np.float64) @ deg) / np.maximum(deg, 1.0)
    rank = pagerank(adjacency) * adjacency.shape[0]
    return np.column_stack([core, core / np.maximum(deg, 1.0), rank, neighbour_degree]).astype(np.float32)


def pair_columns(values: np.ndarray, users: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``(m, 2 k)`` columns of pairs ``(users[i], cols[i])`` from per-user ``values`` ``(n, k)`` (such as
    :func:`user_centrality`'s): each value of the candidate, then of the query user, in turn."""
    both = np.stack([values[cols], values[users]], 2)  # (m, values, candidate / query)
    out: np.ndarray = both.reshape(cols.shape[0], -1)
    return out
