"""Benchmark: the pymk pipeline against the six §4.7 baselines on every shared data set and the simulator.

    .venv/bin/python benchmarks/model_quality.py [--datasets CollegeMsg,...] [--models ...] [--out JSON]

For each data set: the §4 split, every model through ``pymk.evaluation.runner.evaluate_model`` (the
machinery of ``pymk evaluate``), recall@10/20/50, ndcg@20, fit and score seconds, pymk's ratio to the best
baseline (by recall@20, and by ndcg@20), and each candidate source's reach on the test truth (share of
truth pairs inside that source's candidates, and inside their union). The simulator's data (20,000 users,
seed 0) are generated under ``benchmarks/out/`` on first use; ``--datasets sim-5k-s3,sim-50k-s4`` (any
``sim-<thousands>k-s<seed>``) adds simulations of other sizes and seeds — data no choice was made on.
Writes ``benchmarks/out/model_quality.json``.
``--models pymk,pymk-nognn --pipeline-config '{"gnn": {"max_samples": 2000000}}'`` is the GNN
ablation: the pipeline with LightGCN embeddings, and the same without them (no ``gnn`` feature, no
``gnn`` candidate source); ``--pipeline-config`` takes any PipelineConfig overrides as JSON.
Ranker choices come from validation inside the train window; the test part is only reported.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from _data import eval_data_dir
from pymk.evaluation.graph import TrainGraph
from pymk.evaluation.metrics import Ranker
from pymk.evaluation.model import EvalModel
from pymk.evaluation.protocol import Split, load_interactions, split_interactions
from pymk.evaluation.pymk_model import PymkModel
from pymk.evaluation.registry import BASELINES, default_registry
from pymk.evaluation.runner import dataset_summary, evaluate_model
from pymk.io.formats import Format
from pymk.models.bundle import config_from_dict
from pymk.models.pipeline import PipelineConfig

HERE = Path(__file__).resolve().parent
KS = (10, 20, 50)


def datasets() -> dict[str, tuple[Path, Format]]:
    """Name → (file, format) of every benchmarked data set."""
    d = eval_data_dir()
    return {
        "CollegeMsg": (d / "CollegeMsg" / "CollegeMsg.txt", Format.SNAP_TEMPORAL),
        "bitcoin-otc": (d / "soc-sign-bitcoin-otc" / "soc-sign-bitcoinotc.csv.gz", Format.BITCOIN_CSV),
        "ego-Facebook": (d / "ego-Facebook" / "facebook_combined.txt", Format.SNAP_STATIC),
        "sx-askubuntu": (d / "sx-askubuntu-a2q" / "sx-askubuntu-a2q.txt.gz", Format.SNAP_TEMPORAL),
        "sim-20k": (HERE / "out" / "sim-20k.jsonl", Format.EVENTS_JSONL),
    }


def simulation(name: str) -> tuple[int, int] | None:
    """``(users, seed)`` of a simulator data set named ``sim-<thousands>k-s<seed>``; None for other names."""
    found = re.fullmatch(r"sim-(\d+)k-s(\d+)", name)
    return (int(found[1]) * 1000, int(found[2])) if found else None


def dataset_file(name: str) -> tuple[Path, Format] | None:
    """Data set ``name``'s file and format (the simulator's generated first), or None (with a note) when
    the file is missing."""
    sim = simulation(name)
    if sim is not None:
        path = HERE / "out" / f"{name}.jsonl"
        ensure_simulation(path, *sim)
        return path, Format.EVENTS_JSONL
    path, fmt = datasets()[name]
    if fmt is Format.EVENTS_JSONL:
        ensure_simulation(path)
    if not path.exists():
        print(f"{name}: {path} not found; skipped")
        return None
    return path, fmt


def ensure_simulation(path: Path, users: int = 20_000, seed: int = 0) -> None:
    """Generate the simulator's stream of ``users`` users (seed ``seed``) at ``path`` unless it exists."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pymk = str(Path(sys.executable).parent / "pymk")
        cmd = [pymk, "simulate", "--users", str(users), "--seed", str(seed), "--out", str(path)]
        subprocess.run(cmd, check=True)


def test_split(path: Path, fmt: Format) -> Split:
    """The DESIGN §4 split of one data set."""
    return split_interactions(load_interactions(path, fmt))


def run_split(split: Split, models: list[str], config: PipelineConfig | None = None) -> dict[str, Any]:
    """Evaluate ``models`` on ``split``; pymk (built with ``config``) also reports its sources' reach."""
    result: dict[str, Any] = {"dataset": dataset_summary(split), "models": {}}
    ranker = Ranker(TrainGraph.from_split(split))
    registry = default_registry()
    for name in models:
        model: EvalModel
        if name == "pymk":
            model = PymkModel(config)
        elif name == "pymk-nognn":  # the GNN ablation: the same pipeline without LightGCN
            model = PymkModel(replace(config or PipelineConfig(), gnn=None))
        else:
            model = registry.create(name)
        metrics = evaluate_model(split, model, KS, name=name, ranker=ranker)
        result["models"][name] = metrics
        if name == "pymk" and isinstance(model, PymkModel):
            result["source_reach"] = model.source_reach(split, split.query_users)
            result["validation"] = model.pipeline.validation
        print(f"  {name:<11} r@20 {metrics['recall@20']:.4f}  fit {metrics['fit_seconds']:.1f}s", flush=True)
    base = {n: m for n, m in result["models"].items() if n in BASELINES}
    if "pymk" in result["models"] and base:
        ours = result["models"]["pymk"]
        for metric in ("recall@20", "ndcg@20"):
            best = max(base, key=lambda n: base[n][metric])
            result[f"best_baseline_{metric}"] = best
            result[f"ratio_{metric}"] = ours[metric] / max(base[best][metric], 1e-12)
    return result


def print_table(name: str, res: dict[str, Any]) -> None:
    """One data set's rows: every model's metrics and timings, then pymk's ratios and source reach."""
    print(f"\n{name}: {res['dataset']}")
    head = f"{'model':<11}" + "".join(
        f"{c:>10}" for c in ("r@10", "r@20", "r@50", "ndcg@20", "fit s", "score s")
    )
    print(head)
    for model, m in res["models"].items():
        cells = [m["recall@10"], m["recall@20"], m["recall@50"], m["ndcg@20"]]
        row = "".join(f"{v:>10.4f}" for v in cells) + f"{m['fit_seconds']:>10.1f}{m['score_seconds']:>10.1f}"
        print(f"{model:<11}{row}")
    if "ratio_recall@20" in res:
        print(
            f"pymk / best: recall@20 {res['ratio_recall@20']:.3f} (vs {res['best_baseline_recall@20']}), "
            f"ndcg@20 {res['ratio_ndcg@20']:.3f} (vs {res['best_baseline_ndcg@20']})"
        )
    if "source_reach" in res:
        print("candidate reach: " + ", ".join(f"{k} {v:.3f}" for k, v in res["source_reach"].items()))


def cli(doc: str | None, default_datasets: str, out: Path, split_of: Callable[[Path, Format], Split]) -> int:
    """The command line of both quality benchmarks: ``split_of(file, format)`` is each data set's split."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--datasets", default=default_datasets)
    parser.add_argument("--models", default=",".join((*BASELINES, "pymk")))
    parser.add_argument("--out", type=Path, default=out)
    parser.add_argument(
        "--pipeline-config",
        help="PipelineConfig overrides for pymk and pymk-nognn, as JSON (the GNN ablation: "
        '\'{"gnn": {"max_samples": 2000000}}\')',
    )
    args = parser.parse_args()
    config = None
    if args.pipeline_config:
        config = config_from_dict(json.loads(args.pipeline_config), PipelineConfig, where="--pipeline-config")
    results: dict[str, Any] = {}
    for name in args.datasets.split(","):
        found = dataset_file(name)
        if found is None:
            continue
        path, fmt = found
        print(f"{name} ...", flush=True)
        start = time.perf_counter()
        split = split_of(path, fmt)
        read_seconds = round(time.perf_counter() - start, 2)
        results[name] = run_split(split, args.models.split(","), config)
        results[name]["read_split_seconds"] = read_seconds
        print_table(name, results[name])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


def main() -> int:
    return cli(__doc__, ",".join(datasets()), HERE / "out" / "model_quality.json", test_split)


if __name__ == "__main__":
    raise SystemExit(main())
