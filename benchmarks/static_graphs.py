"""Benchmark: pymk against the proximity baselines on static graphs no default was chosen on.

    .venv/bin/python benchmarks/static_graphs.py [--graphs lfr,plc,rgg,ws] [--out JSON]

ego-Facebook is the one static set of DESIGN §4, and there pymk stands at 1.02× `ra`. These graphs ask
whether that margin is ego-Facebook's alone or what a learned ranker over proximity scores gets on
random hold-outs of static graphs in general. networkx generators, 4,000 nodes each, seed 1, written
as ``snap-static`` files under ``benchmarks/out/static/`` and split and scored by the §4 protocol
(``model_quality.run_split``: ``cn``, ``aa``, ``ra``, ``ppr`` and ``pymk``):

- ``lfr``: LFR benchmark (planted communities; degree exponent 2.5, community-size exponent 1.5,
  mixing 0.2, mean degree 20, maximum 200, communities of 20–300);
- ``plc``: Holme-Kim power-law graph with clustering (10 edges per new node, triangle probability 0.6);
- ``rgg``: random geometric graph (radius 0.05 in the unit square): proximity is the whole story;
- ``ws``: Watts-Strogatz small world (20 neighbours on a ring, 10 % rewired).

Prints each graph's table; writes ``benchmarks/out/static_graphs.json``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import networkx as nx

from model_quality import print_table, run_split, test_split
from pymk.io.formats import Format

HERE = Path(__file__).resolve().parent
GRAPHS: dict[str, Callable[[], nx.Graph]] = {
    "lfr": lambda: nx.LFR_benchmark_graph(
        4000, 2.5, 1.5, 0.2, average_degree=20, max_degree=200, min_community=20, max_community=300, seed=1
    ),
    "plc": lambda: nx.powerlaw_cluster_graph(4000, 10, 0.6, seed=1),
    "rgg": lambda: nx.random_geometric_graph(4000, 0.05, seed=1),
    "ws": lambda: nx.watts_strogatz_graph(4000, 20, 0.1, seed=1),
}
MODELS = ["cn", "aa", "ra", "ppr", "pymk"]


def write_graph(name: str) -> Path:
    """The edges of graph ``name`` as a ``snap-static`` file (``u v`` per line), generated once."""
    path = HERE / "out" / "static" / f"{name}.txt"
    if not path.exists():
        graph = GRAPHS[name]()
        graph.remove_edges_from(list(nx.selfloop_edges(graph)))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{u} {v}\n" for u, v in graph.edges()))
    return path


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--graphs", default=",".join(GRAPHS))
    parser.add_argument("--out", type=Path, default=HERE / "out" / "static_graphs.json")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    for name in args.graphs.split(","):
        if name not in GRAPHS:
            parser.error(f"unknown graph {name}; known: {', '.join(GRAPHS)}")
        split = test_split(write_graph(name), Format.SNAP_STATIC)
        print(f"{name} ...", flush=True)
        results[name] = run_split(split, MODELS)
        print_table(name, results[name])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
