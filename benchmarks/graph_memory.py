"""Memory and speed of the graph store on a synthetic skewed social graph.

    .venv/bin/python benchmarks/graph_memory.py                     # 1M users, 20M undirected edges
    .venv/bin/python benchmarks/graph_memory.py --users 10000 --edges 100000   # smoke test (--quick)

Endpoints follow a bounded power law (``id = n * U**2`` then a random relabelling: a node's chance is
∝ rank**-0.5, a few hubs of tens of thousands of friends, a median in the tens); pairs are deduplicated
until exactly ``--edges`` undirected edges exist. Reports adjacency bytes per edge, bytes per edge with
the per-pair stats, build times, peak RSS, the cost of single incremental operations on a store over
that graph, compaction, and save / memory-mapped load. Prints a table and writes
``benchmarks/out/graph_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pymk.graph import CSRGraph, GraphStore

OUT = Path(__file__).resolve().parent / "out" / "graph_memory.json"


def rss_mib() -> float:
    """Current resident set size of this process in MiB (Linux /proc)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib() -> float:
    """Peak resident set size so far in MiB (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def skewed_ids(rng: np.random.Generator, n_users: int, size: int, relabel: np.ndarray) -> np.ndarray:
    ranks = np.minimum((n_users * rng.random(size) ** 2).astype(np.int64), n_users - 1)
    return relabel[ranks]


def skewed_edges(rng: np.random.Generator, n_users: int, n_edges: int) -> tuple[np.ndarray, np.ndarray]:
    """Exactly ``n_edges`` distinct undirected pairs ``(lo, hi)``, lo < hi, int32, in random order."""
    relabel = rng.permutation(n_users).astype(np.int32)
    keys = np.empty(0, dtype=np.int64)
    while keys.size < n_edges:
        draw = int((n_edges - keys.size) * 1.3) + 1000
        u, v = skewed_ids(rng, n_users, draw, relabel), skewed_ids(rng, n_users, draw, relabel)
        lo, hi = np.minimum(u, v).astype(np.int64), np.maximum(u, v).astype(np.int64)
        fresh = (lo << 32 | hi)[lo != hi]
        keys = np.sort(np.concatenate([keys, fresh]))
        keys = keys[np.r_[True, keys[1:] != keys[:-1]]]
    keys = rng.permutation(keys)[:n_edges]
    return (keys >> 32).astype(np.int32), (keys & 0xFFFFFFFF).astype(np.int32)


def since(start: float) -> float:
    """Seconds elapsed since ``start`` (a ``time.perf_counter()`` reading)."""
    return time.perf_counter() - start


def per_op_us(ops: Callable[[], int]) -> float:
    """Run ``ops`` (which returns how many operations it did) and return microseconds per op."""
    start = time.perf_counter()
    count = ops()
    return since(start) / count * 1e6


def run(n_users: int, n_edges: int, n_ops: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    res: dict[str, Any] = {"users": n_users, "target_edges": n_edges, "ops": n_ops, "seed": seed}
    start = time.perf_counter()
    lo, hi = skewed_edges(rng, n_users, n_edges)
    res["generate_s"] = since(start)
    res["peak_rss_after_generate_mib"] = peak_rss_mib()

    start = time.perf_counter()
    adjacency = CSRGraph.from_pairs(lo, hi, n_nodes=n_users)
    res["build_adjacency_s"] = since(start)
    res["peak_rss_after_build_adjacency_mib"] = peak_rss_mib()
    res["edges"] = adjacency.n_edges
    res["adjacency_bytes_per_edge"] = adjacency.nbytes / adjacency.n_edges
    res["indices_bytes_per_edge"] = adjacency.indices.nbytes / adjacency.n_edges
    degrees = adjacency.degrees()
    res["degree_max"], res["degree_median"] = int(degrees.max()), float(np.median(degrees))
    del adjacency

    # One interaction per pair in a random direction, times spread over a year: stats for every edge.
    flip = rng.random(lo.size) < 0.5
    src, dst = np.where(flip, hi, lo), np.where(flip, lo, hi)
    ts = rng.integers(1_700_000_000, 1_700_000_000 + 365 * 86400, lo.size)
    del lo, hi, flip
    start = time.perf_counter()
    store = GraphStore.from_interactions(src, dst, ts, n_nodes=n_users, compact_threshold=None)
    res["build_with_stats_s"] = since(start)
    res["peak_rss_after_build_with_stats_mib"] = peak_rss_mib()
    del src, dst, ts
    base = store.snapshot()
    res["stats_bytes_per_edge"] = base.stats_nbytes / base.n_edges
    res["total_bytes_per_edge"] = (base.nbytes + base.stats_nbytes) / base.n_edges
    res["rss_after_build_mib"] = rss_mib()

    relabel = rng.permutation(n_users).astype(np.int32)
    us = skewed_ids(rng, n_users, n_ops, relabel).tolist()
    vs = skewed_ids(rng, n_users, n_ops, relabel).tolist()
    t0 = 1_800_000_000

    def connects() -> int:
        for i, (u, v) in enumerate(zip(us, vs, strict=True)):
            store.connect(u, v, t0 + i)
        return n_ops

    def interacts() -> int:
        for i, (u, v) in enumerate(zip(vs, us, strict=True)):
            store.interact(u, v, t0 + i)
        return n_ops

    def neighbor_reads() -> int:
        for u in us:
            store.neighbors(u)
        return n_ops

    def stat_reads() -> int:
        for u, v in zip(us, vs, strict=True):
            store.pair_stats(u, v)
        return n_ops

    res["connect_us"] = per_op_us(connects)
    res["interact_us"] = per_op_us(interacts)
    res["neighbors_us"] = per_op_us(neighbor_reads)
    res["pair_stats_us"] = per_op_us(stat_reads)
    start = time.perf_counter()
    store.degrees()
    res["degrees_vector_s"] = since(start)
    res["overlay_size"] = store.overlay_size
    start = time.perf_counter()
    store.compact()
    res["compact_s"] = since(start)
    res["peak_rss_after_compact_mib"] = peak_rss_mib()
    res["edges_after_compact"] = store.n_edges

    with tempfile.TemporaryDirectory(dir=OUT.parent) as tmp:
        start = time.perf_counter()
        store.save(Path(tmp) / "graph")
        res["save_s"] = since(start)
        start = time.perf_counter()
        loaded = GraphStore.load(Path(tmp) / "graph", mmap=True)
        res["load_mmap_s"] = since(start)
        start = time.perf_counter()
        for u in us[:1000]:
            loaded.neighbors(u)
        res["load_mmap_first_neighbors_us"] = since(start) / 1000 * 1e6
    res["peak_rss_mib"] = peak_rss_mib()
    return res


ROWS = [
    ("users", "users", "{:,}"),
    ("edges", "undirected edges", "{:,}"),
    ("degree_max", "max degree", "{:,}"),
    ("degree_median", "median degree", "{:.0f}"),
    ("adjacency_bytes_per_edge", "adjacency bytes / edge (indptr+indices)", "{:.2f}"),
    ("stats_bytes_per_edge", "pair stats bytes / edge (count_out+last_ts)", "{:.2f}"),
    ("total_bytes_per_edge", "total bytes / edge", "{:.2f}"),
    ("generate_s", "generate edges (s)", "{:.2f}"),
    ("build_adjacency_s", "build CSR from pairs (s)", "{:.2f}"),
    ("build_with_stats_s", "build store from interactions (s)", "{:.2f}"),
    ("rss_after_build_mib", "RSS after build (MiB)", "{:,.0f}"),
    ("connect_us", "connect (µs/op)", "{:.2f}"),
    ("interact_us", "interact (µs/op)", "{:.2f}"),
    ("neighbors_us", "neighbors read (µs/op)", "{:.2f}"),
    ("pair_stats_us", "pair_stats read (µs/op)", "{:.2f}"),
    ("degrees_vector_s", "degrees() vector (s)", "{:.3f}"),
    ("overlay_size", "overlay entries before compaction", "{:,}"),
    ("compact_s", "compaction (s)", "{:.2f}"),
    ("save_s", "save (s)", "{:.2f}"),
    ("load_mmap_s", "load, mmap (s)", "{:.3f}"),
    ("load_mmap_first_neighbors_us", "first neighbors() after mmap load (µs/op)", "{:.1f}"),
    ("peak_rss_after_generate_mib", "peak RSS after generating edges (MiB)", "{:,.0f}"),
    ("peak_rss_after_build_adjacency_mib", "peak RSS after CSR build (MiB)", "{:,.0f}"),
    ("peak_rss_after_build_with_stats_mib", "peak RSS after store build (MiB)", "{:,.0f}"),
    ("peak_rss_after_compact_mib", "peak RSS after ops + compaction (MiB)", "{:,.0f}"),
    ("peak_rss_mib", "peak RSS of the process, end (MiB)", "{:,.0f}"),
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=1_000_000, help="number of users (nodes)")
    parser.add_argument("--edges", type=int, default=20_000_000, help="distinct undirected edges")
    parser.add_argument("--ops", type=int, default=100_000, help="incremental operations of each kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smoke test: 10,000 users, 100,000 edges")
    parser.add_argument("--out", type=Path, default=OUT, help="JSON output path")
    args = parser.parse_args()
    if args.quick:
        args.users, args.edges, args.ops = 10_000, 100_000, 10_000
    OUT.parent.mkdir(parents=True, exist_ok=True)
    res = run(args.users, args.edges, args.ops, args.seed)
    width = max(len(label) for _, label, _ in ROWS)
    for key, label, fmt in ROWS:
        print(f"{label:<{width}}  {fmt.format(res[key])}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
