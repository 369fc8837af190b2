"""Helpers shared by the evaluation tests (graph generators and naive references)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pymk.evaluation.protocol import Split


def random_temporal_file(path: Path, seed: int, n_users: int = 60, n_rows: int = 260) -> Path:
    """A random snap-temporal file with hubs, pendant users, repeated pairs and a few tiny components."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_users + 1) ** 0.8  # skewed: some hubs
    weights /= weights.sum()
    src = rng.choice(n_users, n_rows, p=weights)
    dst = rng.choice(n_users, n_rows, p=weights)
    ts = rng.integers(1_000, 100_000, n_rows)
    lines = [f"{s} {d} {t}" for s, d, t in zip(src, dst, ts, strict=True)]
    # Pendant users hanging off random users, and isolated pairs: exercise PPR's leaf elimination.
    for j in range(12):
        lines.append(f"{1000 + j} {rng.integers(n_users)} {rng.integers(1_000, 100_000)}")
    lines += ["2000 2001 5000", "2002 2003 6000", "2003 2004 6500"]
    path.write_text("\n".join(lines) + "\n")
    return path


def dense_adjacency(split: Split) -> np.ndarray:
    """float64 ``(n, n)`` 0/1 adjacency of the unique train pairs, built without pymk's graph code."""
    adj = np.zeros((split.n_users, split.n_users))
    for u, v in zip(split.pair_u.tolist(), split.pair_v.tolist(), strict=True):
        adj[u, v] = adj[v, u] = 1.0
    return adj
