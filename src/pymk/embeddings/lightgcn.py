"""LightGCN node embeddings for an undirected friendship graph, trained with a BPR link-prediction loss.

The model is PyTorch Geometric's :class:`torch_geometric.nn.LightGCN` (its embedding table, layer weights
``alpha`` and BPR loss) over the symmetric-normalised adjacency ``Â = D^-1/2 A D^-1/2``, held as a
``torch.sparse_csr`` tensor built once. Propagation is ``LightGCN.get_embedding``'s sum written out with
one sparse matmul per layer whose backward reuses ``Â`` (it is symmetric): PyG's ``LGConv`` renormalises
the graph on every call and its sparse backward builds a transpose, together 2.5x slower on CPU.

Training is mini-batched over train edges: each positive pair
``(anchor, pos)`` (orientation drawn at random per epoch) gets one negative — a 2-hop non-neighbour of the
anchor with probability ``hard_negative_share``, otherwise a uniform random non-neighbour.

Determinism: initial weights come from ``torch.manual_seed(seed)``; edge order, orientation and negatives
from ``numpy.random.default_rng(seed)``. On CPU a run is bit-for-bit repeatable for a given seed, thread
count and torch build. On CUDA the sparse matmul's backward may accumulate in a nondeterministic order,
so results agree only to float tolerance. A ``time_budget_s`` makes the number of batches run depend on
the machine's speed, so only runs that finish all ``epochs`` within budget are repeatable.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["EmbeddingConfig", "EpochStats", "fit_embeddings", "resolve_device"]


@dataclass(frozen=True)
class EmbeddingConfig:
    """Hyper-parameters of :func:`fit_embeddings`.

    ``time_budget_s`` bounds wall-clock training (checked after every batch, at least one batch runs);
    ``None`` runs all ``epochs``. ``hard_negative_share`` in ``[0, 1]`` is the share of negatives drawn from
    the anchor's 2-hop neighbourhood instead of uniformly. It defaults to 0 because 2-hop non-neighbours are
    where new links form (friends of friends), so training them as negatives teaches the wrong ranking:
    share 0.3 cut embedding-only recall@20 from 0.030 to 0.011 on sx-askubuntu-a2q (lr 0.03, 90 s) and
    from 0.080 to 0.075 on CollegeMsg (benchmarks/gnn_speed.py, one seed each).
    """

    dim: int = 64
    layers: int = 2
    epochs: int = 20
    batch_size: int = 8192
    lr: float = 0.03
    lambda_reg: float = 1e-4
    hard_negative_share: float = 0.0
    seed: int = 0
    time_budget_s: float | None = None
    #: Cap on positive pairs drawn in one fit: epochs are cut to ``ceil(max_samples / pairs)`` (at least 1),
    #: so big graphs get fewer passes — deterministic, unlike ``time_budget_s``. ``None``: no cap.
    max_samples: int | None = None

    def epochs_for(self, pairs: int) -> int:
        """Epochs a fit on ``pairs`` unique pairs runs (before any time budget)."""
        if self.max_samples is None or pairs == 0:
            return self.epochs
        return max(1, min(self.epochs, -(-self.max_samples // pairs)))


@dataclass(frozen=True)
class EpochStats:
    """One finished (or budget-cut) epoch: mean BPR loss, seconds, and whether the budget cut it short."""

    epoch: int
    loss: float
    seconds: float
    batches: int
    cut_short: bool


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``device`` as given, else CUDA when available, else CPU."""
    import torch

    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class _Neighbours:
    """CSR of the undirected graph plus sorted edge keys, for 2-hop sampling and neighbour tests."""

    def __init__(self, u: np.ndarray, v: np.ndarray, n: int) -> None:
        src = np.concatenate([u, v]).astype(np.int64)
        dst = np.concatenate([v, u]).astype(np.int64)
        order = np.lexsort((dst, src))
        self.src, self.dst, self.n = src[order], dst[order], n
        self.indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.src, minlength=n), out=self.indptr[1:])
        self.degree = np.diff(self.indptr)
        self.keys = self.src * n + self.dst  # sorted, since rows are sorted by (src, dst)

    def is_edge(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Boolean mask: is ``(a[i], b[i])`` an edge. ``a``, ``b`` int64 of equal shape."""
        keys = a * self.n + b
        pos = np.minimum(np.searchsorted(self.keys, keys), self.keys.shape[0] - 1)
        hit: np.ndarray = self.keys[pos] == keys
        return hit

    def random_neighbour(self, nodes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A uniform neighbour of each node (the node itself where it has none)."""
        deg = self.degree[nodes]
        offset = (rng.random(nodes.shape[0]) * deg).astype(np.int64)
        out: np.ndarray = np.where(
            deg > 0, self.dst[np.minimum(self.indptr[nodes] + offset, self.dst.shape[0] - 1)], nodes
        )
        return out

    def negatives(self, anchors: np.ndarray, hard_share: float, rng: np.random.Generator) -> np.ndarray:
        """One negative per anchor: a 2-hop node with probability ``hard_share``, else uniform.

        Candidates that are the anchor itself or its neighbour are redrawn uniformly (up to 3 times;
        a rare leftover stays, which only adds a little label noise).
        """
        neg: np.ndarray = rng.integers(0, self.n, size=(anchors.shape[0],), dtype=np.int64)
        hard = np.asarray(rng.random(anchors.shape[0]) < hard_share)
        if hard.any():
            neg[hard] = self.random_neighbour(self.random_neighbour(anchors[hard], rng), rng)
        for _ in range(3):
            bad = (neg == anchors) | self.is_edge(anchors, neg)
            if not bad.any():
                break
            neg[bad] = rng.integers(0, self.n, size=int(bad.sum()), dtype=np.int64)
        return neg


def normalised_adjacency(nb: _Neighbours, device: torch.device) -> torch.Tensor:
    """``D^-1/2 A D^-1/2`` as a float32 ``sparse_csr`` tensor of shape ``(n, n)`` on ``device``."""
    import torch

    inv_sqrt = np.zeros(nb.n, dtype=np.float64)
    nz = nb.degree > 0
    inv_sqrt[nz] = nb.degree[nz] ** -0.5
    values = (inv_sqrt[nb.src] * inv_sqrt[nb.dst]).astype(np.float32)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        adj = torch.sparse_csr_tensor(
            torch.from_numpy(nb.indptr),
            torch.from_numpy(nb.dst),
            torch.from_numpy(values),
            size=(nb.n, nb.n),
            check_invariants=False,  # built sorted and in range above
        )
    return adj.to(device)


def _propagate(model: Any, adj: torch.Tensor) -> torch.Tensor:
    """``sum_k alpha_k Â^k E`` for ``k = 0..layers``: what ``LightGCN.get_embedding`` computes."""
    x: torch.Tensor = model.embedding.weight
    alpha: torch.Tensor = model.alpha
    out = x * alpha[0]
    for k in range(model.num_layers):
        x = _symmetric_spmm(adj, x)
        out = out + x * alpha[k + 1]
    return out


def _symmetric_spmm(adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``adj @ x`` for a symmetric sparse ``adj`` (no gradient to ``adj``), differentiable in ``x``."""
    import torch

    class _SymSpmm(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, a: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
            ctx.adj = a
            return a @ h

        @staticmethod
        def backward(ctx: Any, grad: torch.Tensor) -> tuple[None, torch.Tensor]:
            return None, ctx.adj @ grad

    out: torch.Tensor = _SymSpmm.apply(adj, x)  # type: ignore[no-untyped-call]  # Function.apply is untyped
    return out


def fit_embeddings(
    u: np.ndarray,
    v: np.ndarray,
    n_users: int,
    config: EmbeddingConfig | None = None,
    progress: Callable[[EpochStats], None] | None = None,
    *,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Train LightGCN on the undirected graph of unique pairs ``(u[i], v[i])`` over nodes ``0..n_users-1``.

    ``u``, ``v``: integer arrays of equal length, no self-loops, each pair once (either orientation).
    Returns the final propagated embeddings (the alpha-weighted mean of the layer outputs) as a
    C-contiguous float32 NumPy array of shape ``(n_users, config.dim)`` on the host, **not** L2-normalised:
    the training score is the dot product, so rank candidates by :func:`pymk.embeddings.similarity`.
    Isolated nodes get their (untrained) initial embedding divided by ``layers + 1``.
    ``progress`` is called after each epoch. ``device`` defaults to CUDA when available, else CPU.
    CPU threads are the caller's choice (``torch.set_num_threads``): on a busy shared machine one thread
    can be far faster than two. Every batch propagates the whole graph, so an epoch costs about
    ``len(u) / batch_size`` full propagations (sx-askubuntu-a2q: ~0.35 s each on one CPU core).
    """
    # torch and PyG are imported here, not at module import: they cost seconds and most pymk commands
    # never need them.
    import torch
    from torch_geometric.nn import LightGCN

    cfg = config or EmbeddingConfig()
    u = np.asarray(u, dtype=np.int64)
    v = np.asarray(v, dtype=np.int64)
    if u.shape != v.shape or u.ndim != 1:
        raise ValueError(f"u and v must be 1-d of equal length, got {u.shape} and {v.shape}")
    if u.size and (min(u.min(), v.min()) < 0 or max(u.max(), v.max()) >= n_users):
        raise ValueError(f"node ids must lie in 0..{n_users - 1}")
    dev = resolve_device(device)
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    nb = _Neighbours(u, v, n_users)
    adj = normalised_adjacency(nb, dev)
    model = LightGCN(n_users, cfg.dim, cfg.layers).to(dev)
    optimiser = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    start = time.perf_counter()
    out_of_time = False
    for epoch in range(cfg.epochs_for(int(u.size))):
        t0, total, batches = time.perf_counter(), 0.0, 0
        order = rng.permutation(u.shape[0])
        flip = rng.random(u.shape[0]) < 0.5
        anchors_all = np.where(flip, v, u)[order]
        pos_all = np.where(flip, u, v)[order]
        for lo in range(0, u.shape[0], cfg.batch_size):
            anchors, pos = anchors_all[lo : lo + cfg.batch_size], pos_all[lo : lo + cfg.batch_size]
            neg = nb.negatives(anchors, cfg.hard_negative_share, rng)
            node_id = torch.from_numpy(np.concatenate([anchors, pos, neg])).to(dev)
            # One index_select: its backward is several times cheaper on CPU than three fancy indexes.
            rows, b = torch.index_select(_propagate(model, adj), 0, node_id), anchors.shape[0]
            ea, ep, en = rows[:b], rows[b : 2 * b], rows[2 * b :]
            pos_rank = (ea * ep).sum(-1)
            neg_rank = (ea * en).sum(-1)
            loss = model.recommendation_loss(pos_rank, neg_rank, node_id=node_id, lambda_reg=cfg.lambda_reg)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach())
            batches += 1
            if cfg.time_budget_s is not None and time.perf_counter() - start >= cfg.time_budget_s:
                out_of_time = True
                break
        if progress is not None:
            stats = EpochStats(epoch, total / max(batches, 1), time.perf_counter() - t0, batches, out_of_time)
            progress(stats)
        if out_of_time:
            break
    model.eval()
    with torch.no_grad():
        final = _propagate(model, adj).detach().to("cpu", torch.float32).numpy()
    return np.ascontiguousarray(final)
