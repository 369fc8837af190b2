"""Shape statistics of a data set under the DESIGN §4 split: does a graph look like real social data?

``graph_shape(split)`` measures, on the *train* graph of :func:`~pymk.evaluation.protocol.split_interactions`:

- ``avg_clustering``: mean local clustering coefficient over all train users (users of degree < 2 count as
  0, the networkx convention). Exact (sparse triangle counting ``A * (A @ A)``, in row blocks) when the
  graph is small enough, otherwise estimated on a fixed-seed uniform sample of users; ``clustering_method``
  says which (``"exact"`` or ``"sampled:<n>"``).
- ``degree_p99_over_median``: 99th percentile of train degree over its median (a skew measure).
- ``new_pairs_common_neighbour``: share of the unique undirected new test pairs (the truth pairs, each
  counted once) whose two users have at least one common neighbour in the train graph.

plus ``users``, ``train_pairs``, ``query_users`` and ``new_pairs``. The real sets in ``eval-data`` give
the target ranges the simulator is tuned for (:data:`TARGETS`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from pymk.evaluation.protocol import Interactions, Split
from pymk.events.ids import IdMap
from pymk.events.schema import INTERACTION_TYPES
from pymk.sim.columns import CODE
from pymk.sim.result import SimResult

#: Target ranges (inclusive) measured on the real sets; the simulator's defaults should land inside.
TARGETS: dict[str, tuple[float, float]] = {
    "avg_clustering": (0.06, 0.53),
    "degree_p99_over_median": (10.0, 40.0),
    "new_pairs_common_neighbour": (0.50, 0.65),
}

#: Above this many sum-of-squared-degrees (the work of ``A @ A``) clustering is sampled, not exact.
EXACT_WORK_LIMIT = 400_000_000
#: Users sampled when clustering is estimated.
CLUSTERING_SAMPLE = 20_000
_BLOCK_WORK = 50_000_000  # rows per block so that one block's A[rows] @ A stays around this many products


def train_adjacency(split: Split) -> sp.csr_matrix:
    """Symmetric 0/1 CSR adjacency (float64, sorted indices) of the unique train pairs."""
    n = split.n_users
    rows = np.concatenate([split.pair_u, split.pair_v]).astype(np.int64)
    cols = np.concatenate([split.pair_v, split.pair_u]).astype(np.int64)
    data = np.ones(rows.shape[0], dtype=np.float64)
    adj = sp.csr_matrix((data, (rows, cols)), shape=(n, n))
    adj.sum_duplicates()
    return adj


def _triangles(adj: sp.csr_matrix, rows: np.ndarray, deg: np.ndarray) -> np.ndarray:
    """Triangles through each user of ``rows``, computed in row blocks of bounded work."""
    out = np.zeros(rows.shape[0], dtype=np.float64)
    work = np.cumsum((adj @ deg)[rows])  # products of A[r] @ A, per row
    start = 0
    while start < rows.shape[0]:
        base = work[start - 1] if start else 0.0
        stop = int(np.searchsorted(work, base + _BLOCK_WORK, side="right"))
        stop = max(stop, start + 1)
        block = adj[rows[start:stop]]
        out[start:stop] = (block @ adj).multiply(block).sum(axis=1).A1 / 2.0
        start = stop
    return out


def average_clustering(adj: sp.csr_matrix, *, seed: int = 0) -> tuple[float, str]:
    """Mean local clustering coefficient of ``adj`` and how it was computed (``exact``/``sampled:<n>``)."""
    n = adj.shape[0]
    if n == 0:
        return 0.0, "exact"
    deg = np.diff(adj.indptr).astype(np.float64)
    if float(np.sum(deg * deg)) <= EXACT_WORK_LIMIT or n <= CLUSTERING_SAMPLE:
        rows, method = np.arange(n), "exact"
    else:
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(n, size=CLUSTERING_SAMPLE, replace=False))
        method = f"sampled:{CLUSTERING_SAMPLE}"
    tri = _triangles(adj, rows, deg)
    d = deg[rows]
    possible = d * (d - 1.0) / 2.0
    local = np.divide(tri, possible, out=np.zeros_like(tri), where=possible > 0)
    return float(local.mean()), method


def common_neighbour_share(adj: sp.csr_matrix, u: np.ndarray, v: np.ndarray) -> float:
    """Share of pairs ``(u[i], v[i])`` with at least one common neighbour in ``adj`` (0.0 if none)."""
    if u.shape[0] == 0:
        return 0.0
    hits = 0
    step = 200_000
    for lo in range(0, u.shape[0], step):
        a, b = adj[u[lo : lo + step]], adj[v[lo : lo + step]]
        hits += int(np.count_nonzero(a.multiply(b).sum(axis=1).A1))
    return hits / int(u.shape[0])


def new_pairs(split: Split) -> tuple[np.ndarray, np.ndarray]:
    """The unique undirected new test pairs ``(u < v)`` of ``split``'s truth."""
    counts = np.diff(split.truth_indptr)
    rows = np.repeat(np.arange(split.n_users), counts)
    cols = split.truth_indices.astype(np.int64)
    keep = rows < cols
    return rows[keep], cols[keep]


def graph_shape(split: Split, *, seed: int = 0) -> dict[str, Any]:
    """Shape statistics of ``split`` (see the module docstring); JSON-ready, floats rounded to 4 places."""
    adj = train_adjacency(split)
    deg = np.diff(adj.indptr)
    clustering, method = average_clustering(adj, seed=seed)
    median = float(np.median(deg)) if deg.size else 0.0
    p99 = float(np.percentile(deg, 99)) if deg.size else 0.0
    nu, nv = new_pairs(split)
    return {
        "users": split.n_users,
        "train_pairs": int(split.pair_u.shape[0]),
        "query_users": int(split.query_users.shape[0]),
        "new_pairs": int(nu.shape[0]),
        "avg_clustering": round(clustering, 4),
        "clustering_method": method,
        "degree_median": median,
        "degree_p99": round(p99, 2),
        "degree_p99_over_median": round(p99 / median, 2) if median > 0 else None,
        "new_pairs_common_neighbour": round(common_neighbour_share(adj, nu, nv), 4),
    }


def in_targets(shape: dict[str, Any]) -> dict[str, bool]:
    """For each :data:`TARGETS` key, whether ``shape``'s value lies inside its range."""
    out: dict[str, bool] = {}
    for key, (lo, hi) in TARGETS.items():
        value = shape.get(key)
        out[key] = value is not None and lo <= float(value) <= hi
    return out


def as_interactions(result: SimResult) -> Interactions:
    """The interactions of ``result`` exactly as ``load_interactions`` reads them back from its JSONL.

    Only :data:`~pymk.events.schema.INTERACTION_TYPES` rows count; users are numbered in order of first
    appearance (actor before target), so the §4 split of this equals the split of the written file.
    Skips the text round trip, which matters at a million users.
    """
    ev = result.events
    codes = np.array([CODE[t] for t in INTERACTION_TYPES], dtype=np.uint8)
    rows = np.flatnonzero(np.isin(ev.type, codes))
    src, dst = ev.actor[rows], ev.target[rows]
    seq = np.column_stack([src, dst]).ravel()
    # First position of each user in the row sequence (np.minimum.at: far faster than np.unique here).
    never = np.iinfo(np.int64).max
    first = np.full(result.config.users, never, dtype=np.int64)
    np.minimum.at(first, seq, np.arange(seq.shape[0], dtype=np.int64))
    seen = np.flatnonzero(first != never)
    users = seen[np.argsort(first[seen])]
    dense = np.full(result.config.users, -1, dtype=np.int64)
    dense[users] = np.arange(users.shape[0])
    return Interactions(
        src=dense[src].astype(np.int32),
        dst=dense[dst].astype(np.int32),
        ts=ev.ts[rows].astype(np.float64),
        ids=IdMap(f"u{u}" for u in users.tolist()),
        static=False,
    )
