"""The scoring interface the serving layer needs from a model: top-k candidates with scores and reasons.

A fitted pipeline implements :class:`Recommender`; batch precompute and real-time serving both call it,
so they share one scoring path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

MAX_K = 200
"""Largest list length anyone may ask for (DESIGN §5: k in 1..200)."""


@dataclass(frozen=True)
class TopK:
    """Top-k lists of ``b`` users, best first.

    ``items``: int32 ``(b, k)`` internal user indices, ``-1`` padding after the last real item of a row.
    ``scores``: float32 ``(b, k)``, non-increasing along each row where ``items >= 0``.
    ``reasons``: float32 ``(b, k, len(reason_names))``; NaN where a reason does not apply to an item.
    Integral values (``mutual_connections``) are reported as integers.
    """

    items: np.ndarray
    scores: np.ndarray
    reasons: np.ndarray
    reason_names: tuple[str, ...]

    def __post_init__(self) -> None:
        b, k = self.items.shape
        if self.scores.shape != (b, k) or self.reasons.shape != (b, k, len(self.reason_names)):
            raise ValueError(
                f"TopK shapes disagree: items {self.items.shape}, scores {self.scores.shape}, "
                f"reasons {self.reasons.shape} for {len(self.reason_names)} reason names"
            )

    @property
    def k(self) -> int:
        """Width of the lists (a row may hold fewer real items)."""
        return int(self.items.shape[1])

    def counts(self) -> np.ndarray:
        """int64 ``(b,)``: real items per row (padding is only ever at the end of a row)."""
        return np.asarray((self.items >= 0).sum(axis=1), dtype=np.int64)


class Recommender(Protocol):
    """A fitted model that ranks candidates for users given by internal index."""

    @property
    def model_version(self) -> str:
        """The registry version of the model (every response names it)."""
        ...

    def recommend(self, users: np.ndarray, k: int) -> TopK:
        """Top-``k`` (1..:data:`MAX_K`) candidates of each of ``users`` (int ``(b,)`` internal indices).

        Never lists the user itself, an existing connection, or a blocked or deleted user; rows may be
        shorter than ``k`` (padded with ``-1``) when a user has fewer candidates.
        """
        ...
