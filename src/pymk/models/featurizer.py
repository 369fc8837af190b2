"""Candidates and their pair features for batches of query users: the one path training and scoring share."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from pymk.candidates.sources import CandidateConfig, CandidateGenerator
from pymk.embeddings.lightgcn import EmbeddingConfig
from pymk.features.completion import CompletionConfig
from pymk.features.pairs import PairBatch, PairScorer, pair_features
from pymk.features.snapshot import Snapshot


class Featurizer:
    """Generates candidates and pair features on one snapshot."""

    def __init__(
        self,
        snap: Snapshot,
        candidates: CandidateConfig,
        *,
        ppr_iterations: int,
        ppr_tolerance: float,
        embedding_dim: int,
        gnn: EmbeddingConfig | None = None,
        gnn_vectors: np.ndarray | None = None,
        completion: CompletionConfig | None = None,
        centrality: bool = False,
    ) -> None:
        self.snap = snap
        self.scorer = PairScorer(
            snap,
            ppr_iterations=ppr_iterations,
            ppr_tolerance=ppr_tolerance,
            embedding_dim=embedding_dim,
            gnn=gnn,
            gnn_vectors=gnn_vectors,
            completion=completion,
            centrality=centrality,
        )
        self.generator = CandidateGenerator(
            snap, candidates, kernels=self.scorer.native, vectors=self.scorer.gnn_vectors
        )

    def batch(self, users: np.ndarray) -> PairBatch:
        """The candidate pairs of ``users`` (int64 ``(b,)``, known at ``t``) with their features."""
        blocks = self.scorer.blocks(users)
        rows, cols = self.generator.generate(users, blocks)
        return PairBatch(users, rows, cols, pair_features(self.scorer, blocks, rows, cols))

    def batches(self, users: np.ndarray, size: int, threads: int = 2) -> Iterator[PairBatch]:
        """:meth:`batch` over consecutive chunks of ``size`` users, in order.

        ``threads`` chunks are featurized at once: the sparse products and PPR steps release the GIL, so
        two threads use both cores of a 2-core machine.
        """
        chunks = [users[lo : lo + size] for lo in range(0, users.shape[0], size)]
        if threads <= 1 or len(chunks) <= 1:
            yield from (self.batch(c) for c in chunks)
            return
        with ThreadPoolExecutor(threads) as pool:
            yield from pool.map(self.batch, chunks)
