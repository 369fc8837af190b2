"""The tiny pipeline settings tests and the freshness benchmark train with (one definition for all).

A ``PipelineConfig`` as the JSON-like dict ``pymk train --pipeline-config`` and ``config_from_dict`` take:
it fits in about a second on a few hundred simulated users. LightGCN is off (it is by default too).
"""

from __future__ import annotations

TINY_PIPELINE: dict[str, object] = {
    "candidates": {"fof": 20, "ppr": 20, "active": 10, "popular": 5},
    "ranker": {"max_rounds": 15, "early_stopping": 5, "min_data_in_leaf": 5},
    "train_users": 80,
    "negatives": 20,
    "ppr_iterations": 5,
    "embedding_dim": 4,
    "batch": 32,
    "gnn": None,
}
