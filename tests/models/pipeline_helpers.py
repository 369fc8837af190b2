"""Small pipelines that fit in a fraction of a second, and the rows they fit on."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from pymk.candidates.sources import CandidateConfig
from pymk.features.rows import Rows
from pymk.models.pipeline import PipelineConfig, PymkPipeline
from pymk.models.ranker import RankerConfig

TINY = PipelineConfig(
    candidates=CandidateConfig(fof=20, ppr=20, active=10, popular=5),
    ranker=RankerConfig(max_rounds=15, early_stopping=5, min_data_in_leaf=5),
    train_users=80,
    negatives=20,
    ppr_iterations=5,
    embedding_dim=4,
    batch=32,
)

_FIELDS = {f.name for f in dataclasses.fields(PipelineConfig)}
if "gnn" in _FIELDS:  # trained graph embeddings, when the pipeline has them: a few quick epochs
    from pymk.embeddings.lightgcn import EmbeddingConfig

    TINY = dataclasses.replace(TINY, gnn=EmbeddingConfig(dim=8, epochs=2, batch_size=1024))

#: TINY without its costliest optional stage (the graph embeddings): for tests that fit many times and
#: test the plumbing, not the features.
_OPTIONAL_OFF: dict[str, Any] = {"gnn": None}
FAST = dataclasses.replace(TINY, **{k: v for k, v in _OPTIONAL_OFF.items() if k in _FIELDS})


def community_rows(seed: int, n_users: int = 120, m: int = 3000) -> Rows:
    """Four communities of 30; 80% of rows inside one; times uniform over ~11.6 days, sorted."""
    rng = np.random.default_rng(seed)
    src = rng.integers(0, n_users, m)
    same = rng.random(m) < 0.8
    other = rng.integers(0, n_users, m)
    local = (src // 30) * 30 + rng.integers(0, 30, m)
    dst = np.where(same, local, other)
    keep = src != dst
    ts = np.sort(rng.uniform(0.0, 1e6, m))[keep]
    return Rows(src[keep].astype(np.int32), dst[keep].astype(np.int32), ts, n_users)


def fit(rows: Rows, config: PipelineConfig = TINY) -> PymkPipeline:
    """A pipeline fitted on ``rows``."""
    pipe = PymkPipeline(config)
    pipe.fit(rows)
    return pipe
