"""Spectral node embeddings of a snapshot graph: a seeded randomized eigendecomposition.

The embedding of user ``i`` is row ``i`` of ``V |L|^(1/2)`` for the ``dim`` eigenpairs of largest magnitude
of the normalised adjacency ``D^-1/2 A D^-1/2``; the dot product of two rows approximates their (smoothed)
normalised adjacency, a global-structure proximity that local counts miss (community membership).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from pymk.embeddings.lightgcn import EmbeddingConfig


def spectral_embedding(adjacency: Any, dim: int = 32, *, power: int = 3, seed: int = 0) -> np.ndarray:
    """float32 ``(n, dim')`` with ``dim' = min(dim, n)``; rows of users without edges are zero.

    ``adjacency``: symmetric CSR ``(n, n)``. ``power`` subspace iterations refine the random range.
    """
    n = adjacency.shape[0]
    k = min(dim, n)
    if k == 0:
        return np.zeros((n, 0), dtype=np.float32)
    deg = np.asarray(adjacency.sum(axis=1)).ravel()
    scale = sp.diags(1.0 / np.sqrt(np.maximum(deg, 1.0)))
    norm = (scale @ adjacency @ scale).tocsr()
    width = min(n, k + 10)
    q = np.random.default_rng(seed).standard_normal((n, width))
    for _ in range(power + 1):
        q, _r = np.linalg.qr(norm @ q)
    small = q.T @ (norm @ q)
    vals, vecs = np.linalg.eigh((small + small.T) / 2)
    top = np.argsort(-np.abs(vals))[:k]
    emb = (q @ vecs[:, top]) * np.sqrt(np.abs(vals[top]))
    # Sign of each eigenvector fixed so the embedding is reproducible up to floating point.
    emb *= np.sign(emb.sum(axis=0) + 1e-30)
    out: np.ndarray = emb.astype(np.float32)
    return out


def gnn_embedding(adjacency: Any, config: EmbeddingConfig) -> np.ndarray:
    """float32 ``(n, config.dim)`` LightGCN embeddings of the symmetric CSR ``adjacency`` (see
    :func:`pymk.embeddings.fit_embeddings`); rows of users without edges are zero.

    Trains on CUDA when present, else on the CPU — the same code either way.
    """
    from pymk.embeddings.lightgcn import fit_embeddings

    coo = sp.triu(adjacency, k=1).tocoo()
    n = adjacency.shape[0]
    if coo.nnz == 0:
        return np.zeros((n, config.dim), dtype=np.float32)
    emb = fit_embeddings(coo.row, coo.col, n, config)
    emb[np.diff(adjacency.indptr) == 0] = 0.0
    return emb
