"""LightGCN embeddings: shapes, determinism, budget, sampler, and that they learn community structure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pymk.embeddings import (
    EmbeddingConfig,
    EpochStats,
    fit_embeddings,
    load_embeddings,
    save_embeddings,
    similarity,
)
from pymk.embeddings.lightgcn import _Neighbours

pytestmark = pytest.mark.unit

SMALL = EmbeddingConfig(dim=16, layers=2, epochs=25, batch_size=512, lr=0.05, seed=3)


def planted_partition(
    seed: int, n: int = 120, p_in: float = 0.12, p_out: float = 0.004
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique pairs ``u < v`` of two equal communities, and each node's community (0 or 1)."""
    rng = np.random.default_rng(seed)
    a, b = np.triu_indices(n, 1)
    community = (np.arange(n) >= n // 2).astype(np.int64)
    same = community[a] == community[b]
    keep = rng.random(a.shape[0]) < np.where(same, p_in, p_out)
    return a[keep], b[keep], community


@pytest.fixture(scope="module")
def trained() -> dict[str, np.ndarray]:
    """Train on a planted-partition graph with 10% of its edges held out."""
    u, v, community = planted_partition(seed=1)
    rng = np.random.default_rng(2)
    held = rng.random(u.shape[0]) < 0.1
    emb = fit_embeddings(u[~held], v[~held], community.shape[0], SMALL, device="cpu")
    return {"emb": emb, "u": u, "v": v, "held": held, "community": community}


def test_shape_dtype_and_finite(trained: dict[str, np.ndarray]) -> None:
    emb = trained["emb"]
    assert emb.shape == (120, 16)
    assert emb.dtype == np.float32
    assert emb.flags.c_contiguous
    assert np.isfinite(emb).all()


def test_communities_separate(trained: dict[str, np.ndarray]) -> None:
    emb, community = trained["emb"], trained["community"]
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    cos = unit @ unit.T
    same = community[:, None] == community[None, :]
    off_diagonal = ~np.eye(community.shape[0], dtype=bool)
    within = cos[same & off_diagonal].mean()
    across = cos[~same].mean()
    assert within > across + 0.2, (within, across)


def test_held_out_edges_outscore_random_non_edges(trained: dict[str, np.ndarray]) -> None:
    emb, u, v, held = trained["emb"], trained["u"], trained["v"], trained["held"]
    n = emb.shape[0]
    held_scores = similarity(emb, u[held], v[held][:, None])[:, 0]
    rng = np.random.default_rng(5)
    a, b = rng.integers(0, n, 2000), rng.integers(0, n, 2000)
    edges = set(zip(np.minimum(u, v).tolist(), np.maximum(u, v).tolist(), strict=True))
    non_edge = np.array(
        [x != y and (min(x, y), max(x, y)) not in edges for x, y in zip(a.tolist(), b.tolist(), strict=True)]
    )
    random_scores = similarity(emb, a[non_edge], b[non_edge][:, None])[:, 0]
    assert held_scores.mean() > random_scores.mean()
    # AUC-style: a held-out edge beats a random non-edge most of the time
    assert (held_scores[:, None] > random_scores[None, :]).mean() > 0.7


def test_deterministic_on_cpu_given_seed() -> None:
    u, v, community = planted_partition(seed=4, n=60)
    cfg = EmbeddingConfig(dim=8, epochs=3, batch_size=64, hard_negative_share=0.5, seed=7)
    first = fit_embeddings(u, v, 60, cfg, device="cpu")
    again = fit_embeddings(u, v, 60, cfg, device="cpu")
    other = fit_embeddings(
        u,
        v,
        60,
        EmbeddingConfig(dim=8, epochs=3, batch_size=64, hard_negative_share=0.5, seed=8),
        device="cpu",
    )
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_time_budget_stops_after_one_batch_and_reports_progress() -> None:
    u, v, _ = planted_partition(seed=4, n=60)
    seen: list[EpochStats] = []
    cfg = EmbeddingConfig(dim=8, epochs=50, batch_size=16, time_budget_s=0.0)
    emb = fit_embeddings(u, v, 60, cfg, seen.append, device="cpu")
    assert emb.shape == (60, 8)
    assert len(seen) == 1
    assert seen[0].batches == 1 and seen[0].cut_short


def test_isolated_nodes_and_empty_graph() -> None:
    emb = fit_embeddings(np.array([0]), np.array([1]), 4, EmbeddingConfig(dim=4, epochs=1), device="cpu")
    assert emb.shape == (4, 4) and np.isfinite(emb).all()
    empty = fit_embeddings(np.array([], dtype=np.int64), np.array([], dtype=np.int64), 3, device="cpu")
    assert empty.shape == (3, 64)


@pytest.mark.parametrize(("u", "v"), [([0, 1], [1]), ([0], [5]), ([-1], [0])])
def test_rejects_bad_edges(u: list[int], v: list[int]) -> None:
    with pytest.raises(ValueError):
        fit_embeddings(np.array(u), np.array(v), 3, device="cpu")


def test_negatives_are_non_neighbours_and_hard_ones_two_hop() -> None:
    u, v, _ = planted_partition(seed=6)
    nb = _Neighbours(u, v, 120)
    rng = np.random.default_rng(0)
    anchors = rng.integers(0, 120, 5000)
    neg = nb.negatives(anchors, 1.0, rng)
    bad = (neg == anchors) | nb.is_edge(anchors, neg)
    assert bad.mean() < 0.01
    assert nb.is_edge(np.array([u[0], v[0]]), np.array([v[0], u[0]])).all()


def test_similarity_shapes_and_values() -> None:
    emb = np.arange(12, dtype=np.float32).reshape(4, 3)
    shared = similarity(emb, np.array([0, 1]), np.array([2, 3, 1]))
    assert shared.shape == (2, 3) and shared.dtype == np.float32
    assert shared[1, 0] == pytest.approx(float(emb[1] @ emb[2]))
    per_user = similarity(emb, np.array([0, 1]), np.array([[3], [2]]))
    assert per_user.shape == (2, 1)
    assert per_user[0, 0] == pytest.approx(float(emb[0] @ emb[3]))
    with pytest.raises(ValueError):
        similarity(emb, np.array([0, 1]), np.zeros((3, 1), dtype=np.int64))


def test_save_load_round_trip(tmp_path: Path) -> None:
    emb = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    path = tmp_path / "emb.npy"
    save_embeddings(emb, path)
    np.testing.assert_array_equal(load_embeddings(path), emb)
    np.testing.assert_array_equal(load_embeddings(path, mmap=True), emb)
    np.save(tmp_path / "bad.npy", np.zeros(3))
    with pytest.raises(ValueError):
        load_embeddings(tmp_path / "bad.npy")
