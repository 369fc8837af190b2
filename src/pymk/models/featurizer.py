"""Candidates and their pair features for batches of query users: the one path training and scoring share."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from pymk.candidates.sources import CandidateConfig, CandidateGenerator
from pymk.features.pairs import PairBatch, PairScorer, pair_features
from pymk.features.snapshot import Snapshot


class Featurizer:
    """Generates candidates and pair features on one snapshot."""

    def __init__(
        self, snap: Snapshot, candidates: CandidateConfig, *, ppr_iterations: int, embedding_dim: int
    ) -> None:
        self.snap = snap
        self.scorer = PairScorer(snap, ppr_iterations=ppr_iterations, embedding_dim=embedding_dim)
        self.generator = CandidateGenerator(snap, candidates)

    def batch(self, users: np.ndarray) -> PairBatch:
        """The candidate pairs of ``users`` (int64 ``(b,)``, known at ``t``) with their features."""
        blocks = self.scorer.blocks(users)
        rows, cols = self.generator.generate(users, blocks)
        return PairBatch(users, rows, cols, pair_features(self.snap, users, blocks, rows, cols))

    def batches(self, users: np.ndarray, size: int) -> Iterator[PairBatch]:
        """:meth:`batch` over consecutive chunks of ``size`` users."""
        for lo in range(0, users.shape[0], size):
            yield self.batch(users[lo : lo + size])
