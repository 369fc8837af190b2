"""Scoring with, and persistence of, node embeddings (NumPy only: no torch needed to serve them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["load_embeddings", "save_embeddings", "similarity"]


def similarity(emb: np.ndarray, users: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Dot-product scores of each user against candidates, float32.

    ``emb``: ``(n, d)`` embeddings from :func:`pymk.embeddings.fit_embeddings` (dot product is the score
    they were trained for; L2-normalise rows first for cosine). ``users``: int ``(m,)``.
    ``candidates``: int ``(k,)`` — the same candidates for every user — or ``(m, k)`` — per-user lists.
    Returns ``(m, k)``: ``out[i, j] = emb[users[i]] · emb[candidates(i)[j]]``.
    """
    users = np.asarray(users, dtype=np.int64)
    candidates = np.asarray(candidates, dtype=np.int64)
    left = emb[users].astype(np.float32, copy=False)
    if candidates.ndim == 1:
        out: np.ndarray = left @ emb[candidates].astype(np.float32, copy=False).T
    elif candidates.ndim == 2 and candidates.shape[0] == users.shape[0]:
        out = np.einsum("md,mkd->mk", left, emb[candidates].astype(np.float32, copy=False))
    else:
        raise ValueError(f"candidates must be (k,) or ({users.shape[0]}, k), got {candidates.shape}")
    return out.astype(np.float32, copy=False)


def save_embeddings(emb: np.ndarray, path: Path) -> None:
    """Write ``emb`` as a float32 ``.npy`` file (parent directories must exist; no pickling)."""
    np.save(path, np.ascontiguousarray(emb, dtype=np.float32), allow_pickle=False)


def load_embeddings(path: Path, *, mmap: bool = False) -> np.ndarray:
    """Read a ``.npy`` written by :func:`save_embeddings`; ``mmap`` maps it read-only instead of loading."""
    emb: np.ndarray = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    if emb.ndim != 2 or emb.dtype != np.float32:
        raise ValueError(f"{path}: expected a 2-d float32 array, got {emb.dtype} {emb.shape}")
    return emb
