"""Shape of the simulator's output next to the real sets (DESIGN §4 split; see ``pymk.sim.shape``).

The simulated sets are written to JSONL and read back with ``load_interactions(..., EVENTS_JSONL)``,
exactly as ``pymk evaluate`` would; at a million users that text round trip alone takes many minutes,
so ``--large`` measures 1M users / 20M connections on the equal in-memory interactions
(``as_interactions``, checked equal to the JSONL read by the tests). Prints a table and writes
``benchmarks/out/sim_shape.json``.

    .venv/bin/python benchmarks/sim_shape.py            # 20k users (default config) + the four real sets
    .venv/bin/python benchmarks/sim_shape.py --large    # ... and 1M users / 20M connections
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from _data import eval_data_dir
from pymk.evaluation.protocol import Interactions, load_interactions, split_interactions
from pymk.io.formats import Format
from pymk.sim import SimConfig, simulate, write_jsonl
from pymk.sim.shape import TARGETS, as_interactions, graph_shape, in_targets

OUT = Path(__file__).resolve().parent / "out" / "sim_shape.json"
DATA = eval_data_dir()
REAL = (
    ("CollegeMsg", "CollegeMsg/CollegeMsg.txt", Format.SNAP_TEMPORAL),
    ("ego-Facebook", "ego-Facebook/facebook_combined.txt", Format.SNAP_STATIC),
    ("bitcoin-otc", "soc-sign-bitcoin-otc/soc-sign-bitcoinotc.csv.gz", Format.BITCOIN_CSV),
    ("sx-askubuntu-a2q", "sx-askubuntu-a2q/sx-askubuntu-a2q.txt.gz", Format.SNAP_TEMPORAL),
)
COLUMNS = (
    ("users", "users", "{:,}"),
    ("train_pairs", "train pairs", "{:,}"),
    ("query_users", "query users", "{:,}"),
    ("avg_clustering", "avg clust.", "{:.3f}"),
    ("degree_p99_over_median", "p99/median", "{:.1f}"),
    ("new_pairs_common_neighbour", "new pairs w/ CN", "{:.1%}"),
)


def _shape(inter: Interactions, seconds: float) -> dict[str, Any]:
    started = time.perf_counter()
    shape = graph_shape(split_interactions(inter))
    shape["seconds"] = {"read": round(seconds, 1), "split_and_shape": round(time.perf_counter() - started, 1)}
    return shape


def _simulated(cfg: SimConfig, via_jsonl: bool) -> dict[str, Any]:
    started = time.perf_counter()
    result = simulate(cfg)
    sim_seconds = time.perf_counter() - started
    started = time.perf_counter()
    if via_jsonl:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "events.jsonl"
            write_jsonl(result, path)
            inter = load_interactions(path, Format.EVENTS_JSONL)
    else:
        inter = as_interactions(result)
    shape = _shape(inter, time.perf_counter() - started)
    shape["seconds"]["simulate"] = round(sim_seconds, 1)
    shape["read_via"] = "jsonl" if via_jsonl else "as_interactions"
    shape["in_targets"] = in_targets(shape)
    return shape


def _row(name: str, shape: dict[str, Any]) -> str:
    cells = [f"{name:<28}"]
    for key, _, fmt in COLUMNS:
        value = shape.get(key)
        cells.append(f"{fmt.format(value) if value is not None else '-':>17}")
    return "".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--large", action="store_true", help="also 1M users / 20M connections")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows: dict[str, dict[str, Any]] = {}
    for name, rel, fmt in REAL:
        path = DATA / rel
        if not path.exists():
            print(f"(skipping {name}: {path} not found)")
            continue
        started = time.perf_counter()
        inter = load_interactions(path, fmt)
        rows[name] = _shape(inter, time.perf_counter() - started)
    rows["simulated 20k"] = _simulated(SimConfig(users=20_000, seed=args.seed), via_jsonl=True)
    if args.large:
        big = SimConfig(users=1_000_000, connections=20_000_000, seed=args.seed)
        rows["simulated 1M/20M"] = _simulated(big, via_jsonl=False)
    print("".join([f"{'data set':<28}", *(f"{title:>17}" for _, title, _ in COLUMNS)]))
    for name, shape in rows.items():
        print(_row(name, shape))
    targets = ", ".join(f"{k} {lo:g}..{hi:g}" for k, (lo, hi) in TARGETS.items())
    print(f"targets: {targets}")
    for name, shape in rows.items():
        if "in_targets" in shape:
            print(f"{name}: clustering {shape['clustering_method']}, in targets: {shape['in_targets']}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"targets": TARGETS, "sets": rows}, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
