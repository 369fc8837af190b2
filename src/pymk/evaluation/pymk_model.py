"""``pymk`` under the DESIGN §4 protocol: the full pipeline fitted on the train rows of a split only."""

from __future__ import annotations

import numpy as np

from pymk.candidates.sources import SOURCES
from pymk.evaluation.protocol import Split
from pymk.features.rows import Rows
from pymk.models.pipeline import PipelineConfig, PymkPipeline


class PymkModel:
    """:class:`~pymk.evaluation.model.EvalModel` adapter around :class:`PymkPipeline`."""

    def __init__(self, config: PipelineConfig | None = None) -> None:
        self.pipeline = PymkPipeline(config)

    def fit(self, split: Split) -> None:
        """Fit on ``split.train_*`` (time order); the truth is never read."""
        self.pipeline.fit(Rows.from_split(split))

    def score(self, users: np.ndarray) -> np.ndarray:
        """float32 ``(b, n_users)``; candidates above every non-candidate."""
        return self.pipeline.score(users)

    def source_reach(self, split: Split, users: np.ndarray) -> dict[str, float]:
        """Share of ``users``' truth pairs inside each source's candidates and their union ("all")."""
        featurizer = self.pipeline.featurizer
        if featurizer is None:
            raise RuntimeError("source_reach() called before fit()")
        hits = dict.fromkeys((*SOURCES, "all"), 0)
        total = 0
        n = np.int64(featurizer.snap.n_users)
        for lo in range(0, users.shape[0], self.pipeline.config.batch):
            batch = users[lo : lo + self.pipeline.config.batch].astype(np.int64)
            found = featurizer.generator.sources(batch, featurizer.scorer.blocks(batch))
            keys = {name: np.unique(r * n + c) for name, (r, c) in found.items()}
            keys["all"] = np.unique(np.concatenate(list(keys.values())))
            counts = np.diff(split.truth_indptr)[batch]
            rows = np.repeat(np.arange(batch.shape[0], dtype=np.int64), counts)
            cols = np.concatenate([split.truth(int(u)) for u in batch]) if batch.size else rows
            total += int(rows.shape[0])
            truth = rows * n + cols
            for name, have in keys.items():
                hits[name] += int(np.isin(truth, have).sum())
        return {name: h / max(total, 1) for name, h in hits.items()}
