"""``ppr``: personalized PageRank of DESIGN §4.7, many sources at once.

For a source ``u``: ``x_0 = e_u``, ``x_{t+1} = r e_u + (1 - r) x_t P`` with ``P = D^-1 A`` the
row-normalised binary train graph, ``r = 0.15``, 30 steps; the score of candidate ``j`` is ``x_30[j]``.

The sources of a batch are columns of a dense ``(nodes, b)`` block ``Z = X^T`` updated by one sparse
product per step, ``Z <- (1-r) A D^-1 Z + injections``. To cut the work, degree-1 users whose neighbour
has degree >= 2 ("leaves", about 60% of sx-askubuntu's users) are eliminated exactly. A non-source leaf ``j``
with parent ``p`` has ``x_{t+1}[j] = (1-r) x_t[p] / deg p`` (``0`` at ``t = 0``) and sends ``(1-r) x_t[j]``
back to ``p``; so the ``l_p`` leaves of ``p`` add ``(1-r)^2 l_p / deg p * x_{t-1}[p]`` to ``x_{t+1}[p]``, a
diagonal term one step behind. A leaf that *is* a source additionally carries its restart mass: it
injects ``(1-r)`` into ``p`` at the first step and ``(1-r) r`` at each later one, and its own final score
gets ``+r``. Results equal the plain power iteration up to float32 rounding (tested).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import scipy.sparse as sp

from pymk.evaluation.graph import TrainGraph
from pymk.evaluation.protocol import Split


class PersonalizedPageRank:
    """Exact ``iterations``-step personalized PageRank scores, computed in float32.

    ``block_bytes`` bounds each worker's dense state (two ``(state rows, columns)`` float32 blocks);
    ``threads`` workers (default: the usable cores, at most 8) run column blocks concurrently; scipy's
    sparse products release the GIL.
    """

    def __init__(
        self,
        restart: float = 0.15,
        iterations: int = 30,
        *,
        threads: int | None = None,
        block_bytes: int = 96 * 2**20,
    ) -> None:
        if not 0.0 < restart < 1.0 or iterations < 1:
            raise ValueError("need 0 < restart < 1 and iterations >= 1")
        self.restart = restart
        self.iterations = iterations
        self.threads = max(1, threads if threads is not None else min(8, len(os.sched_getaffinity(0))))
        self.block_bytes = block_bytes
        self._fitted = False

    def fit(self, split: Split) -> None:
        """Fit on ``split``'s train graph (see :meth:`fit_graph`)."""
        self.fit_graph(TrainGraph.from_split(split))

    def fit_graph(self, graph: TrainGraph) -> None:
        """Build the step operator on the non-leaf ("core") users and the leaf bookkeeping."""
        adj, deg = graph.adjacency, graph.degree
        n = graph.n_users
        first = adj.indices[adj.indptr[:-1]] if n else np.zeros(0, np.int32)
        leaf = (deg == 1) & (deg[first] >= 2)
        # Core users sorted by degree: rows of hubs, touched most often, stay close in memory.
        core = np.flatnonzero(~leaf)
        core = core[np.argsort(-deg[core], kind="stable")]
        pos = np.full(n, -1, dtype=np.int64)
        pos[core] = np.arange(core.shape[0])
        damp = 1.0 - self.restart
        step = adj[core][:, core] @ sp.diags(damp / deg[core])

        # The one-step-behind "echo" of each parent's leaves rides along in the state: rows n_core.. of
        # the augmented state hold x_{t-1} at the parents, so one sparse product per step does it all:
        # [x_{t+1}; x_t[parents]] = [[step, echo], [select, 0]] @ [x_t; x_{t-1}[parents]].
        n_core = core.shape[0]
        parent_pos = pos[first[leaf]]
        n_leaves = np.bincount(parent_pos, minlength=n_core)
        parents = np.flatnonzero(n_leaves)
        n_par = parents.shape[0]
        if n_par:
            echo = damp * damp * n_leaves[parents] / deg[core[parents]]
            lag = np.arange(n_par)
            echo_m = sp.csr_matrix((echo, (parents, lag)), shape=(n_core, n_par))
            select = sp.csr_matrix((np.ones(n_par), (lag, parents)), shape=(n_par, n_core))
            op = sp.bmat([[step, echo_m], [select, None]], format="csr")
        else:
            op = sp.csr_matrix(step)
        self._op: Any = op.astype(np.float32)
        self._n = n
        self._n_core = n_core
        self._core = core
        self._pos = pos
        self._leaves = np.flatnonzero(leaf)
        self._leaf_parent = parent_pos
        # Row, in the augmented state, that holds x_{t-1} at each leaf's parent.
        lag_of = np.full(n_core, -1, dtype=np.int64)
        lag_of[parents] = n_core + np.arange(n_par)
        self._leaf_lag = lag_of[parent_pos]
        self._leaf_coef = (damp / deg[first[leaf]]).astype(np.float32)[:, None]
        self._fitted = True

    def score(self, users: np.ndarray) -> np.ndarray:
        """float32 ``(len(users), n)``: row ``i`` is ``x_iterations`` of source ``users[i]``."""
        if not self._fitted:
            raise RuntimeError("score() called before fit()")
        out = np.empty((users.shape[0], self._n), dtype=np.float32)
        width = max(1, self.block_bytes // (2 * 4 * max(1, self._op.shape[0])))
        blocks = [np.arange(s, min(s + width, users.shape[0])) for s in range(0, users.shape[0], width)]
        if self.threads > 1 and len(blocks) > 1:
            with ThreadPoolExecutor(self.threads) as pool:
                list(pool.map(lambda cols: self._score_into(users[cols], out, cols), blocks))
        else:
            for cols in blocks:
                self._score_into(users[cols], out, cols)
        return out

    def _score_into(self, users: np.ndarray, out: np.ndarray, rows: np.ndarray) -> None:
        r, damp = np.float32(self.restart), np.float32(1.0 - self.restart)
        b = users.shape[0]
        cols = np.arange(b)
        src = self._pos[users]
        at_core = src >= 0
        core_rows, core_cols = src[at_core], cols[at_core]
        # A source leaf's restart mass enters the core at its parent (see the module docstring).
        leaf_idx = np.searchsorted(self._leaves, users[~at_core])
        leaf_rows, leaf_cols = self._leaf_parent[leaf_idx], cols[~at_core]

        state = np.zeros((self._op.shape[0], b), dtype=np.float32)
        state[core_rows, core_cols] = 1.0
        for t in range(self.iterations):
            state = self._op @ state
            state[core_rows, core_cols] += r
            state[leaf_rows, leaf_cols] += damp if t == 0 else damp * r

        block = out[rows[0] : rows[-1] + 1]
        block[:, self._core] = state[: self._n_core].T
        block[:, self._leaves] = (state[self._leaf_lag] * self._leaf_coef).T
        block[leaf_cols, users[~at_core]] += r
