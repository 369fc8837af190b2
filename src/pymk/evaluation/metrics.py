"""Masking, top-k ranking with a total tie order, and recall@k / ndcg@k of DESIGN §4.5–4.6.

Order of candidates for a query user: score descending, then train degree descending, then train index
descending (§4.6 "ties may be broken by degree"; the index makes it total; see
:meth:`TrainGraph.tie_rank` for why the higher index goes first). The query user and its train
neighbours are excluded by setting their scores to ``-inf``; model scores that are not finite count as
the lowest finite float32, so an excluded user never outranks a real candidate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from pymk.evaluation.graph import TrainGraph
from pymk.evaluation.protocol import Split

_LOWEST = float(np.finfo(np.float32).min)
_HIGHEST = float(np.finfo(np.float32).max)
_SUBSAMPLE = 16  # column stride of the sample whose k-th largest bounds each row's k-th largest


class Ranker:
    """Masks score blocks of one train graph and returns each row's top-k train indices."""

    def __init__(self, graph: TrainGraph) -> None:
        self.graph = graph
        self.tie_rank = graph.tie_rank()
        self.tie_order = np.argsort(self.tie_rank)

    def mask(self, users: np.ndarray, scores: np.ndarray) -> None:
        """In place: clamp non-finite scores, then set self and train neighbours to ``-inf``.

        ``users``: int ``(b,)``; ``scores``: float32 ``(b, n_users)``.
        """
        # min/max propagate NaN and see +-inf, without a block-sized temporary.
        if scores.size and not (np.isfinite(scores.min()) and np.isfinite(scores.max())):
            np.nan_to_num(scores, copy=False, nan=_LOWEST, posinf=_HIGHEST, neginf=_LOWEST)
        sub = self.graph.adjacency[users]
        rows = np.repeat(np.arange(users.shape[0]), np.diff(sub.indptr))
        scores[rows, sub.indices] = -np.inf
        scores[np.arange(users.shape[0]), users] = -np.inf

    def top_k(self, scores: np.ndarray, k: int) -> np.ndarray:
        """int64 ``(b, min(k, n))``: each row's best columns, best first; ``-1`` where only excluded remain.

        Exact under the total order of the module docstring. Cost: a partition of a 1/16 column sample
        for the whole block, then per row one comparison pass and work proportional to the entries above
        the bound (tied entries are looked up in tie order, so a row of mostly equal scores stays cheap).
        """
        b, n = scores.shape
        k = min(k, n)
        out = np.full((b, k), -1, dtype=np.int64)
        if k == 0:
            return out
        stride = max(1, min(_SUBSAMPLE, n // (4 * k)))
        sample = scores[:, ::stride]
        # The k-th largest of a column subset is <= the k-th largest of the row, so at least k entries of
        # each row are >= this bound, and all of the row's top k are.
        bound = np.partition(sample, sample.shape[1] - k, axis=1)[:, sample.shape[1] - k]
        for i in range(b):
            top = self._row_top(scores[i], bound[i], k)
            out[i] = np.where(scores[i, top] == -np.inf, -1, top)
        return out

    def _row_top(self, row: np.ndarray, bound: np.float32, k: int) -> np.ndarray:
        cand = np.flatnonzero(row > bound)
        if cand.shape[0] < k:
            # Then the k-th largest value is exactly ``bound``: keep everything above it and the
            # (k - len(cand)) best tied entries by tie rank.
            cand = np.concatenate([cand, self._best_tied(row, bound, k - cand.shape[0])])
        order = np.lexsort((self.tie_rank[cand], -row[cand]))[:k]
        top: np.ndarray = cand[order]
        return top

    def _best_tied(self, row: np.ndarray, value: np.float32, need: int) -> np.ndarray:
        """The ``need`` columns of ``row`` equal to ``value`` that come first in tie order (>= need exist)."""
        # Most big tie sets are "score 0 for nearly everyone": a short prefix of the tie order suffices.
        prefix = self.tie_order[: 4 * need + 64]
        hits = prefix[row[prefix] == value]
        if hits.shape[0] >= need:
            best: np.ndarray = hits[:need]
            return best
        tied = np.flatnonzero(row == value)
        if tied.shape[0] > need:
            tied = tied[np.argpartition(self.tie_rank[tied], need - 1)[:need]]
        return tied


@dataclass
class MetricSums:
    """Running sums of recall@k and ndcg@k over query users, for each ``k`` in ``ks``.

    Feed it top lists with :meth:`add`; :meth:`means` gives the §4 averages.
    """

    split: Split
    ks: Sequence[int]
    recall: dict[int, float] = field(init=False)
    ndcg: dict[int, float] = field(init=False)
    count: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.recall = dict.fromkeys(self.ks, 0.0)
        self.ndcg = dict.fromkeys(self.ks, 0.0)
        n = self.split.n_users
        counts = np.diff(self.split.truth_indptr)
        # Globally sorted keys ``user * n + neighbour`` of every truth entry (CSR rows and columns sorted).
        self._truth_keys = np.repeat(np.arange(n, dtype=np.int64), counts) * n + self.split.truth_indices
        self._truth_size = counts
        width = max(self.ks)
        self._discount = 1.0 / np.log2(np.arange(2, width + 2, dtype=np.float64))
        self._ideal = np.concatenate([[0.0], np.cumsum(self._discount)])

    def add(self, users: np.ndarray, top: np.ndarray) -> None:
        """Account for ``users`` (int ``(b,)``, query users only) ranked as ``top`` (:meth:`Ranker.top_k`).

        ``top`` must be at least ``max(ks)`` wide unless the graph has fewer users.
        """
        n = self.split.n_users
        keys = users.astype(np.int64)[:, None] * n + top
        pos = np.minimum(np.searchsorted(self._truth_keys, keys), self._truth_keys.shape[0] - 1)
        hits = (self._truth_keys[pos] == keys) & (top >= 0)
        size = self._truth_size[users]
        if np.any(size == 0):
            raise ValueError("every evaluated user must be a query user (non-empty truth)")
        gains = hits * self._discount[: hits.shape[1]]
        for k in self.ks:
            self.recall[k] += float(np.sum(hits[:, :k].sum(axis=1) / size))
            ideal = self._ideal[np.minimum(k, size)]
            self.ndcg[k] += float(np.sum(gains[:, :k].sum(axis=1) / ideal))
        self.count += int(users.shape[0])

    def means(self) -> dict[str, float]:
        """``{"recall@k": mean, "ndcg@k": mean, ...}`` in ``ks`` order (0.0 when nothing was added)."""
        out: dict[str, float] = {}
        for k in self.ks:
            out[f"recall@{k}"] = self.recall[k] / self.count if self.count else 0.0
            out[f"ndcg@{k}"] = self.ndcg[k] / self.count if self.count else 0.0
        return out
