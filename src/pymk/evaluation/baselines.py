"""The non-learned baselines of DESIGN §4.7 (PPR lives in :mod:`pymk.evaluation.ppr`).

All of them score on the *binary* train graph (unique undirected pairs), except ``recent``, which counts
train rows. Every ``score`` returns a fresh float32 ``(len(users), n_users)`` block; masking of self and
train neighbours and tie-breaking are the harness's job.

Neighbourhood scores are computed in float64 sparse arithmetic and rounded once to float32, so equal
exact scores (same multiset of common-neighbour weights) come out equal whatever the summation order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from pymk.evaluation.graph import TrainGraph
from pymk.evaluation.protocol import Split

#: Share of the train time span that ``recent`` looks back over (§4.7).
RECENT_WINDOW = 0.1


class _VectorModel:
    """A model whose score of a candidate does not depend on the query user."""

    def __init__(self) -> None:
        self._vector: np.ndarray | None = None

    def score(self, users: np.ndarray) -> np.ndarray:
        """float32 ``(len(users), n)``: the same per-candidate vector in every row."""
        if self._vector is None:
            raise RuntimeError("score() called before fit()")
        out = np.empty((users.shape[0], self._vector.shape[0]), dtype=np.float32)
        out[:] = self._vector  # a broadcast copy: several times faster than np.tile
        return out


class Popularity(_VectorModel):
    """``popularity``: a candidate's train degree (number of unique train neighbours)."""

    def fit(self, split: Split) -> None:
        """Count each train user's unique train neighbours."""
        self._vector = TrainGraph.from_split(split).degree.astype(np.float32)


class Recent(_VectorModel):
    """``recent``: how many train rows a candidate took part in (as src or dst) lately; repeats count.

    Lately: ``ts >= t_max - 0.1 * (t_max - t_min)`` over the train rows' times. Rows without a time
    (NaN) never count when some rows have one. When no train row has a time (snap-static, edges-csv
    without ``ts``) there is no "lately", so every train row counts: the score becomes the candidate's
    train activity (row count), which for a file of unique pairs equals its degree.
    """

    def fit(self, split: Split) -> None:
        """Count each train user's rows in the last 10% of the train time span."""
        ts = split.train_ts
        timed = np.isfinite(ts)
        if timed.any():
            t_min, t_max = float(ts[timed].min()), float(ts[timed].max())
            keep = timed & (ts >= t_max - RECENT_WINDOW * (t_max - t_min))
        else:
            keep = np.ones(ts.shape[0], dtype=bool)
        n = split.n_users
        counts = np.bincount(split.train_src[keep], minlength=n) + np.bincount(
            split.train_dst[keep], minlength=n
        )
        self._vector = counts.astype(np.float32)


def _ones(degree: np.ndarray) -> np.ndarray:
    return np.ones(degree.shape[0])


def _inverse_log(degree: np.ndarray) -> np.ndarray:
    # max(deg, 2): a degree-1 neighbour would otherwise divide by ln 1 = 0.
    weights: np.ndarray = 1.0 / np.log(np.maximum(degree, 2).astype(np.float64))
    return weights


def _inverse(degree: np.ndarray) -> np.ndarray:
    return 1.0 / degree.astype(np.float64)  # every train user has degree >= 1


class NeighbourhoodScore:
    """Scores ``A[users] @ diag(w) @ A``: common neighbours ``z`` weighted by ``w(deg z)``.

    ``weight``: maps int64 train degrees ``(n,)`` to float64 weights ``(n,)``.
    """

    def __init__(self, weight: Callable[[np.ndarray], np.ndarray]) -> None:
        self._weight = weight
        self._left: Any = None
        self._right: Any = None

    def fit(self, split: Split) -> None:
        """Precompute ``A @ diag(w)`` (its rows are sliced per batch) and ``A``."""
        graph = TrainGraph.from_split(split)
        adj = graph.adjacency
        self._left = (adj @ sp.diags(self._weight(graph.degree))).tocsr()
        self._right = adj

    def score(self, users: np.ndarray) -> np.ndarray:
        """float32 ``(len(users), n)``; zero where the pair has no common neighbour."""
        if self._left is None:
            raise RuntimeError("score() called before fit()")
        prod = (self._left[users] @ self._right).tocsr()
        out = np.zeros(prod.shape, dtype=np.float32)
        rows = np.repeat(np.arange(prod.shape[0]), np.diff(prod.indptr))
        out[rows, prod.indices] = prod.data
        return out


class CommonNeighbours(NeighbourhoodScore):
    """``cn``: the number of common train neighbours."""

    def __init__(self) -> None:
        super().__init__(_ones)


class AdamicAdar(NeighbourhoodScore):
    """``aa``: sum over common neighbours ``z`` of ``1 / ln(max(deg z, 2))`` (natural log)."""

    def __init__(self) -> None:
        super().__init__(_inverse_log)


class ResourceAllocation(NeighbourhoodScore):
    """``ra``: sum over common neighbours ``z`` of ``1 / deg z``."""

    def __init__(self) -> None:
        super().__init__(_inverse)
