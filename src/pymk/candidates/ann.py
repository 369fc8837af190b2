"""Nearest users by inner product in an embedding space: the index behind the ``gnn`` candidate source.

The LightGCN similarity of two users is the dot product of their vectors, so the source wants each query
user's ``k`` largest dot products among the users it may be shown (maximum inner-product search). Two
ways, one contract (:meth:`EmbeddingIndex.nearest`):

- **exact** below :attr:`AnnConfig.exact_below` indexed users: dense products of the batch's query
  users against a block of users at a time, the best ``k`` kept across blocks (memory bounded by
  :data:`EXACT_BLOCK` scores, whatever the graph's size);
- **approximate** from there on: an HNSW graph (`usearch <https://github.com/unum-cloud/usearch>`_)
  built on the inner product itself, searched in about ``log n`` steps per query instead of ``n``.

Why these choices, measured by ``benchmarks/ann_candidates.py`` (``benchmarks/RESULTS.md``, "The gnn
source's index"): on sx-askubuntu's LightGCN vectors (105,683 users, 64 dimensions) HNSW found 0.886 of
the exact top 100 and answered a batch of 256 query users in 0.30 s against the exact search's 0.18 s. At
a million users it was 4.2× faster and found 0.855. BLAS makes the exact search cheap, so the index only
pays on large graphs, hence the ``exact_below`` default. The textbook reduction of inner-product search to
nearest-neighbour search (an extra coordinate ``sqrt(M² - |x|²)``, Bachrach et al. 2014) found only 0.30
at the same settings: a few hub vectors of large norm set ``M``, and the extra coordinate then swamps
every other user's. The inner product used directly (non-metric graph search, Morozov & Babenko 2018)
found 0.72, and 0.89 with the wider graph of the defaults. The index is built with one thread, so the same
vectors give the same graph and the same answers: the pipeline is deterministic given a seed, and a saved
model version scores as it did (``tests/candidates/test_ann.py``, ``tests/models/test_behaviour.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from pymk.features.pairs import sparse_at

#: The exact search scores the query users against this many (user, member) pairs at a time at most.
EXACT_BLOCK = 1 << 24


@dataclass(frozen=True)
class AnnConfig:
    """When and how the ``gnn`` source searches approximately."""

    #: Fewer indexed users than this: exact search (dense products per batch of query users).
    exact_below: int = 1_000_000
    #: HNSW links per node (usearch ``connectivity``).
    connectivity: int = 32
    #: Candidates kept while inserting (usearch ``expansion_add``): the graph's quality.
    expansion_add: int = 128
    #: Candidates kept while searching (usearch ``expansion_search``; at least the count asked for).
    expansion_search: int = 512


class EmbeddingIndex:
    """The users ``members`` (bool ``(n,)``) of float32 ``vectors`` ``(n, d)``, searchable by dot product.

    ``nearest(users, k, excluded)`` gives, for each query user, up to ``k`` members of positive dot
    product with it, best first — never the user itself nor a user of its ``excluded`` row. Exact below
    ``config.exact_below`` members (every answer is the true top ``k``); above it approximate: the HNSW
    search asks for ``k`` plus what the user may have to skip, and asks again four times deeper for the
    users whose answers the exclusions emptied (a hub among its neighbours).
    """

    def __init__(self, vectors: np.ndarray, members: np.ndarray, config: AnnConfig | None = None) -> None:
        self.config = config or AnnConfig()
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.members = np.flatnonzero(members).astype(np.int64)
        self.exact = self.members.shape[0] < self.config.exact_below
        self._index = None if self.exact else self._build()
        #: Each user's place among the members (-1: not a member), for the exact search's exclusions.
        self._position = np.full(self.vectors.shape[0], -1, dtype=np.int64)
        self._position[self.members] = np.arange(self.members.shape[0])

    def _build(self) -> Any:
        from usearch.index import Index  # imported here: the exact path, and every small graph, need none

        index = Index(
            ndim=self.vectors.shape[1],
            metric="ip",
            dtype="f32",
            connectivity=self.config.connectivity,
            expansion_add=self.config.expansion_add,
            expansion_search=self.config.expansion_search,
        )
        index.add(self.members, self.vectors[self.members], threads=1)
        return index

    def nearest(self, users: np.ndarray, k: int, excluded: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """Pairs ``(rows, cols)`` int64, sorted by row then column: row ``i`` holds up to ``k`` members of
        largest positive dot product with ``users[i]``, other than ``users[i]`` and the columns of
        ``excluded[i]`` (CSR ``(b, n)``, entries non-zero)."""
        b, n = users.shape[0], self.vectors.shape[0]
        if not excluded.has_canonical_format:
            excluded = excluded.copy()
            excluded.sum_duplicates()
        empty = np.zeros(0, dtype=np.int64)
        k = min(k, self.members.shape[0])
        if k <= 0 or b == 0:
            return empty, empty
        search = self._exact if self.exact else self._approximate
        return best_per_row(*search(users, k, excluded), k, n)

    def _exact(
        self, users: np.ndarray, k: int, excluded: sp.csr_matrix
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The true top ``k``, a block of members at a time (at most ``EXACT_BLOCK`` scores held)."""
        b, m = users.shape[0], self.members.shape[0]
        skip_rows = np.concatenate([np.repeat(np.arange(b), np.diff(excluded.indptr)), np.arange(b)])
        skip_at = self._position[np.concatenate([excluded.indices, users])]
        skip_rows, skip_at = skip_rows[skip_at >= 0], skip_at[skip_at >= 0]
        query = self.vectors[users]
        best = np.full((b, 0), -np.inf, dtype=np.float32)
        best_at = np.zeros((b, 0), dtype=np.int64)
        step = max(k, EXACT_BLOCK // max(b, 1))
        for lo in range(0, m, step):
            hi = min(lo + step, m)
            score = query @ self.vectors[self.members[lo:hi]].T  # (b, hi - lo)
            inside = (skip_at >= lo) & (skip_at < hi)
            score[skip_rows[inside], skip_at[inside] - lo] = -np.inf
            if hi - lo > k:  # the block's own best k first: the merge below then handles (b, 2k)
                top = np.argpartition(-score, k - 1, axis=1)[:, :k]
                score, at = np.take_along_axis(score, top, 1), top + lo
            else:
                at = np.broadcast_to(np.arange(lo, hi), score.shape)
            score, at = np.hstack([best, score]), np.hstack([best_at, at])
            keep = min(k, score.shape[1])
            top = np.argpartition(-score, keep - 1, axis=1)[:, :keep]
            best, best_at = np.take_along_axis(score, top, 1), np.take_along_axis(at, top, 1)
        rows = np.repeat(np.arange(b, dtype=np.int64), best.shape[1])
        return rows, self.members[best_at.ravel()], best.ravel()

    def _approximate(
        self, users: np.ndarray, k: int, excluded: sp.csr_matrix
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Search, drop the query user and its excluded users, and search deeper (4x) for the query
        users left with fewer than ``k`` positive answers while deeper answers exist."""
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        todo = np.arange(users.shape[0], dtype=np.int64)
        count = k + 1 + min(int(np.diff(excluded.indptr).max(initial=0)), 2 * k)
        while todo.shape[0]:
            count = min(count, self.members.shape[0])
            rows, cols, full = self._search(users, todo, count, excluded)
            dots = np.einsum("ij,ij->i", self.vectors[users[rows]], self.vectors[cols])
            found = np.bincount(rows[dots > 0], minlength=users.shape[0])[todo]
            done = (found >= k) | ~full | (count >= self.members.shape[0])
            kept = np.isin(rows, todo[done])
            parts.append((rows[kept], cols[kept], dots[kept]))
            todo, count = todo[~done], count * 4
        rows, cols, dots = (np.concatenate(column) for column in zip(*parts, strict=True))
        return rows, cols, dots

    def _search(
        self, users: np.ndarray, todo: np.ndarray, count: int, excluded: sp.csr_matrix
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ``count`` nearest of each ``users[todo]`` as pairs ``(rows, cols)`` (rows index ``users``)
        less the user itself and its excluded users; and bool ``(len(todo),)``: did it get ``count``."""
        assert self._index is not None
        b = todo.shape[0]
        found = self._index.search(self.vectors[users[todo]], count, threads=1)
        keys = np.asarray(found.keys, dtype=np.int64).reshape(b, -1)
        # a batch answer pads each row past its count (with key 0, a real user); one query has no padding
        counts = np.asarray(getattr(found, "counts", [keys.shape[1]]), dtype=np.int64)
        filled = (np.arange(keys.shape[1])[None, :] < counts[:, None]).ravel()
        rows = np.repeat(todo, keys.shape[1])[filled]
        cols = keys.ravel()[filled]
        ok = cols != users[rows]
        ok &= sparse_at(excluded, rows, cols) == 0
        return rows[ok], cols[ok], counts >= count


def best_per_row(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, k: int, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Of scored pairs ``(rows, cols, values)`` (one entry per pair), each row's ``k`` best positive ones
    (ties: lower column), as pairs ``(rows, cols)`` int64 sorted by row then column (``n``: columns).
    Every candidate source's cut: :class:`EmbeddingIndex` and ``CandidateGenerator``'s sparse rows."""
    keep = values > 0
    rows, cols, values = rows[keep], cols[keep], values[keep]
    order = np.lexsort((cols, -values, rows))
    rows, cols = rows[order], cols[order]
    rank = np.arange(rows.shape[0]) - np.searchsorted(rows, rows)
    top = rank < k
    key = np.sort(rows[top] * np.int64(n) + cols[top])
    return key // n, key % n
