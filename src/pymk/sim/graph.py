"""The simulated friendship graph: an undirected CSR with sorted rows, grown one batch per epoch.

Every operation is vectorised over a batch of users or pairs and runs in SciPy's compiled sparse
kernels: membership is a batch lookup (binary search inside each sorted row), and a batch of new edges is
merged in with one sparse addition (a linear merge of sorted rows, no re-sort), so a 20M-edge graph
absorbs an epoch's edges in a fraction of a second.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


class Adjacency:
    """Undirected simple graph on users ``0..n-1``.

    ``indptr`` and ``indices`` (int32 while the graph has fewer than 2**31 entries, int64 beyond) form a
    CSR in which each row is sorted and every edge appears in both rows. ``degree`` (int64) is kept up to
    date by :meth:`add`.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self._csr = sp.csr_array((n, n), dtype=np.int8)
        self.degree = np.zeros(n, dtype=np.int64)

    @property
    def indptr(self) -> np.ndarray:
        """CSR row pointers (``n + 1``)."""
        out: np.ndarray = self._csr.indptr
        return out

    @property
    def indices(self) -> np.ndarray:
        """CSR column indices: each row's neighbours, ascending."""
        out: np.ndarray = self._csr.indices
        return out

    @property
    def directed_edges(self) -> int:
        """Entries of the CSR: twice the number of edges."""
        return int(self._csr.nnz)

    def contains(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Boolean mask: is ``(u[i], v[i])`` an edge?"""
        if u.shape[0] == 0 or self._csr.nnz == 0:
            return np.zeros(u.shape[0], dtype=bool)
        # Looking up in (u, v) order walks the CSR forwards: far fewer cache misses than random order.
        order = np.argsort(u.astype(np.int64) * self.n + v)
        found = np.empty(u.shape[0], dtype=bool)
        found[order] = np.asarray(self._csr[u[order], v[order]]) != 0
        return found

    def add(self, u: np.ndarray, v: np.ndarray) -> None:
        """Add the edges ``(u[i], v[i])``: distinct pairs, none already present, no self-loops."""
        if u.shape[0] == 0:
            return
        keys = np.concatenate([u, v]).astype(np.int64) * self.n + np.concatenate([v, u])
        keys.sort()
        rows = keys // self.n
        cols = keys - rows * self.n
        counts = np.bincount(rows, minlength=self.n)
        indptr = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        new = sp.csr_array((np.ones(cols.shape[0], dtype=np.int8), cols, indptr), shape=(self.n, self.n))
        new.has_canonical_format = True  # sorted, no duplicates: lets SciPy merge rows linearly
        self._csr = self._csr + new
        self.degree += counts

    def random_neighbours(self, u: np.ndarray, r: np.ndarray) -> np.ndarray:
        """A uniform neighbour of each ``u[i]`` (all must have degree > 0); ``r`` uniform in [0, 1)."""
        d = self.degree[u]
        pick = self.indptr[u] + np.minimum((r * d).astype(np.int64), d - 1)
        out: np.ndarray = self.indices[pick].astype(np.int64)
        return out

    def random_endpoints(self, r: np.ndarray) -> np.ndarray:
        """Users drawn with probability proportional to degree (needs at least one edge)."""
        nnz = self.directed_edges
        out: np.ndarray = self.indices[np.minimum((r * nnz).astype(np.int64), nnz - 1)].astype(np.int64)
        return out
