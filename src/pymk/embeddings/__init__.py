"""Graph embeddings: LightGCN trained on the train graph, dot-product similarity, ``.npy`` persistence.

Importing this package loads NumPy only; torch and PyTorch Geometric load when :func:`fit_embeddings` runs.
"""

from pymk.embeddings.lightgcn import EmbeddingConfig, EpochStats, fit_embeddings, resolve_device
from pymk.embeddings.scoring import load_embeddings, save_embeddings, similarity

__all__ = [
    "EmbeddingConfig",
    "EpochStats",
    "fit_embeddings",
    "load_embeddings",
    "resolve_device",
    "save_embeddings",
    "similarity",
]
