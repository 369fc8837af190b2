"""Benchmark: the ``gnn`` candidate source searched exactly and through the HNSW index.

    .venv/bin/python benchmarks/ann_candidates.py [--datasets sx-askubuntu] [--synthetic 1000000]
        [--k 100] [--batch 256] [--batches 8] [--out JSON]

:class:`pymk.candidates.ann.EmbeddingIndex` answers the ``gnn`` source: a dense product per batch of
query users below ``AnnConfig.exact_below`` indexed users, an HNSW index (usearch, over the
inner-product-to-distance reduction) above. This measures what the index buys and what it misses, on the
same vectors, in the same process:

- each ``--datasets`` set: LightGCN vectors trained on its DESIGN §4 train graph (the ablation's setting,
  ``EmbeddingConfig(max_samples=2_000_000)``; cached under ``benchmarks/out/``), both indexes over the
  train users, and each §4 query user's ``--k`` nearest, its train neighbours excluded (as the pipeline
  asks);
- ``--synthetic N``: ``N`` 64-dimensional vectors around 500 directions, with norms spread like
  sx-askubuntu's LightGCN vectors; random query users, no exclusions — the size where the exact search
  gets slow.

Reported: build seconds; seconds per batch of ``--batch`` query users, exact and HNSW alternated batch by
batch (A B, B A, ...), medians and their ratio; the share of the exact answers the HNSW search returns;
for the data sets, each answer's reach (share of the §4 truth pairs among the query users' candidates);
the index's memory. Writes ``benchmarks/out/ann_candidates.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from model_quality import dataset_file, test_split
from pymk.candidates.ann import AnnConfig, EmbeddingIndex
from pymk.embeddings import EmbeddingConfig, fit_embeddings
from pymk.evaluation.protocol import Split

HERE = Path(__file__).resolve().parent
EXACT, HNSW = AnnConfig(exact_below=2**62), AnnConfig(exact_below=0)
GNN = EmbeddingConfig(max_samples=2_000_000)


def train_vectors(name: str, split: Split) -> np.ndarray:
    """LightGCN vectors of ``split``'s train graph, cached per data set and config."""
    cache = HERE / "out" / f"ann_vectors_{name}_{GNN.dim}d_{GNN.max_samples}.npy"
    if cache.exists():
        out: np.ndarray = np.load(cache)
        return out
    start = time.perf_counter()
    vectors = fit_embeddings(split.pair_u, split.pair_v, split.n_users, GNN)
    print(f"{name}: LightGCN {time.perf_counter() - start:.0f} s", flush=True)
    cache.parent.mkdir(exist_ok=True)
    np.save(cache, vectors)
    return vectors


def compare(
    vectors: np.ndarray,
    members: np.ndarray,
    queries: np.ndarray,
    excluded: sp.csr_matrix,
    k: int,
    batch: int,
    batches: int,
) -> dict[str, Any]:
    """Both indexes on the same vectors: build, alternated batch timings, overlap; and the answers."""
    out: dict[str, Any] = {"users": int(vectors.shape[0]), "dim": int(vectors.shape[1]), "k": k}
    indexes = {}
    for name, config in (("exact", EXACT), ("hnsw", HNSW)):
        start = time.perf_counter()
        indexes[name] = EmbeddingIndex(vectors, members, config)
        out[f"{name}_build_s"] = time.perf_counter() - start
    hnsw_index = indexes["hnsw"]._index
    out["hnsw_memory_bytes"] = int(hnsw_index.memory_usage) if hnsw_index is not None else 0
    seconds: dict[str, list[float]] = {"exact": [], "hnsw": []}
    pairs: dict[str, list[np.ndarray]] = {"exact": [], "hnsw": []}
    chunks = [queries[lo : lo + batch] for lo in range(0, queries.shape[0], batch)]
    timed = set(range(min(batches, len(chunks))))
    n = np.int64(vectors.shape[0])
    for i, chunk in enumerate(chunks):
        rows = excluded[chunk] if excluded.shape[0] else sp.csr_matrix((chunk.shape[0], vectors.shape[0]))
        order = ("exact", "hnsw") if i % 2 == 0 else ("hnsw", "exact")
        for name in order:
            start = time.perf_counter()
            r, c = indexes[name].nearest(chunk, k, rows)
            if i in timed:
                seconds[name].append(time.perf_counter() - start)
            pairs[name].append(chunk[r] * n + c)
    for name in seconds:
        out[f"{name}_batch_s_median"] = float(np.median(seconds[name]))
    out["speedup"] = out["exact_batch_s_median"] / max(out["hnsw_batch_s_median"], 1e-12)
    exact_keys, hnsw_keys = (np.concatenate(pairs[name]) for name in ("exact", "hnsw"))
    out["hnsw_share_of_exact"] = float(np.isin(exact_keys, hnsw_keys).mean()) if exact_keys.size else 1.0
    out["_keys"] = {"exact": exact_keys, "hnsw": hnsw_keys}
    return out


def reach(split: Split, keys: np.ndarray) -> float:
    """Share of the §4 truth pairs (query user, new neighbour) among candidate pair ``keys``."""
    n = np.int64(split.n_users)
    owner = np.repeat(np.arange(split.n_users, dtype=np.int64), np.diff(split.truth_indptr))
    truth = owner * n + split.truth_indices.astype(np.int64)
    return float(np.isin(truth, keys).mean())


def run_dataset(name: str, k: int, batch: int, batches: int) -> dict[str, Any]:
    found = dataset_file(name)
    if found is None:
        raise SystemExit(f"unknown data set {name}")
    split = test_split(*found)
    vectors = train_vectors(name, split)
    adjacency = sp.csr_matrix(
        (
            np.ones(split.pair_u.shape[0] * 2, np.float32),
            (np.concatenate([split.pair_u, split.pair_v]), np.concatenate([split.pair_v, split.pair_u])),
        ),
        shape=(split.n_users, split.n_users),
    )
    members = np.ones(split.n_users, dtype=bool)  # every train user may be recommended
    queries = split.query_users.astype(np.int64)
    out = compare(vectors, members, queries, adjacency, k, batch, batches)
    keys = out.pop("_keys")
    out["query_users"] = int(queries.shape[0])
    out["exact_reach"], out["hnsw_reach"] = reach(split, keys["exact"]), reach(split, keys["hnsw"])
    return out


def run_synthetic(n: int, k: int, batch: int, batches: int) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((500, 64)).astype(np.float32)
    directions = centres[rng.integers(0, 500, n)] + 0.7 * rng.standard_normal((n, 64), dtype=np.float32)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    # norms spread like sx-askubuntu's LightGCN vectors (median 2.3, 99th percentile 5.2)
    vectors = directions * np.exp(rng.normal(0.8, 0.3, (n, 1))).astype(np.float32)
    queries = rng.choice(n, batch * batches, replace=False).astype(np.int64)
    out = compare(vectors, np.ones(n, dtype=bool), queries, sp.csr_matrix((0, n)), k, batch, batches)
    out.pop("_keys")
    out["query_users"] = int(queries.shape[0])
    return out


def show(name: str, r: dict[str, Any]) -> None:
    line = (
        f"{name:<16} {r['users']:>9,} users  build exact {r['exact_build_s']:.2f} s / hnsw "
        f"{r['hnsw_build_s']:.1f} s  per batch exact {r['exact_batch_s_median']:.3f} s"
        f" / hnsw {r['hnsw_batch_s_median']:.3f} s ({r['speedup']:.0f}x)  hnsw finds "
        f"{r['hnsw_share_of_exact']:.3f} of exact  index {r['hnsw_memory_bytes'] / 2**20:.0f} MiB"
    )
    if "exact_reach" in r:
        line += f"  reach exact {r['exact_reach']:.4f} / hnsw {r['hnsw_reach']:.4f}"
    print(line, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", default="sx-askubuntu", help="comma-separated ('' for none)")
    parser.add_argument(
        "--synthetic", type=int, default=1_000_000, help="users of the synthetic case (0: none)"
    )
    parser.add_argument("--k", type=int, default=100, help="answers per query user (the source's budget)")
    parser.add_argument("--batch", type=int, default=256, help="query users per batch")
    parser.add_argument("--batches", type=int, default=8, help="batches timed")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "ann_candidates.json")
    args = parser.parse_args()
    results: dict[str, Any] = {"config": {"hnsw": HNSW.__dict__, "gnn": GNN.__dict__}}
    for name in filter(None, args.datasets.split(",")):
        results[name] = run_dataset(name, args.k, args.batch, args.batches)
        show(name, results[name])
    if args.synthetic:
        name = f"synthetic-{args.synthetic}"
        results[name] = run_synthetic(args.synthetic, args.k, args.batch, args.batches)
        show(name, results[name])
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
