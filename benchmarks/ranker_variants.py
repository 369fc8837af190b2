"""Validation of ranker settings: the pipeline's features computed once, the rankers retrained per variant.

    .venv/bin/python benchmarks/ranker_variants.py --datasets CollegeMsg,bitcoin-otc --seeds 0,1,2 \\
        --variant 'unconstrained={"increasing": []}' [--variant NAME=JSON ...] [--ablate NAME=f1,f2 ...] \\
        [--out JSON]

Where pymk's ranker defaults are chosen, never on the test part: each data set's §4 train part is split
again by §4 (as ``model_validation.py`` does), the default pipeline is fitted on the inner train once —
its labelled slices and the inner query users' candidate features are kept — and then, for every variant
and ranker seed, only the rankers are retrained (``PymkPipeline.fit_rankers``) and scored on the kept
features with the §4 metrics. A variant is a JSON object of :class:`pymk.models.ranker.RankerConfig`
overrides (``default`` = ``{}`` is always run first). Candidates and features do not depend on the
ranker, so this gives what ``model_validation.py`` would, at a fraction of the time. ``--ablate
NAME=f1,f2`` adds a run of the default rankers without those pair features (set to 0 in the kept slices
and candidates: no tree can split on a constant column). Prints recall@10/20/50
and ndcg@20 per variant and seed, and the mean over seeds; writes ``benchmarks/out/ranker_variants.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from model_quality import KS
from model_validation import add_depth_argument, validation_splits
from pymk.errors import BundleError
from pymk.evaluation.graph import TrainGraph
from pymk.evaluation.metrics import Ranker as EvalRanker
from pymk.evaluation.protocol import Split
from pymk.evaluation.runner import evaluate_model
from pymk.features.pairs import PairBatch, pair_feature_names
from pymk.features.rows import Rows
from pymk.models.bundle import config_from_dict
from pymk.models.pipeline import PipelineConfig, PymkPipeline
from pymk.models.ranker import Examples, RankerConfig

HERE = Path(__file__).resolve().parent
METRICS = ("recall@10", "recall@20", "recall@50", "ndcg@20")


class CachedScores:
    """An evaluation model answering from kept candidate scores: ``scores`` of pairs ``(users, cols)``
    sorted by user; every other user gets the pipeline's back-off (``backoff``, below every candidate)."""

    def __init__(self, users: np.ndarray, cols: np.ndarray, scores: np.ndarray, backoff: np.ndarray) -> None:
        self.users, self.cols, self.scores, self.backoff = users, cols, scores, backoff
        self.starts = np.searchsorted(users, np.arange(backoff.shape[0] + 1))

    def fit(self, split: Split) -> None:
        """Nothing to fit: the scores are given."""

    def score(self, users: np.ndarray) -> np.ndarray:
        out = np.empty((users.shape[0], self.backoff.shape[0]), dtype=np.float32)
        out[:] = self.backoff
        for i, u in enumerate(users.tolist()):
            lo, hi = self.starts[u], self.starts[u + 1]
            if hi > lo:
                s = self.scores[lo:hi]
                out[i, self.cols[lo:hi]] = s - s.min()
        return out


def kept_fit(
    split: Split, pipeline: type[PymkPipeline] = PymkPipeline
) -> tuple[list[Examples], list[PairBatch], np.ndarray]:
    """The default ``pipeline`` fitted on ``split``: its labelled slices, the query users' candidate
    batches and the back-off scores of every user."""
    pipe = pipeline(PipelineConfig())
    rows = Rows.from_split(split)
    slices = pipe.training_slices(rows)  # what pipe.fit(rows) does, with the slices kept
    pipe.fit_rankers(slices)
    pipe.restore(rows)
    assert pipe.featurizer is not None
    users = np.sort(split.query_users.astype(np.int64))
    batches = list(pipe.featurizer.batches(users, pipe.config.batch))
    backoff = (pipe.featurizer.snap.feature("pct_decay") - 2.0).astype(np.float32)
    return slices, batches, backoff


def run_variant(
    split: Split,
    kept: tuple[list[Examples], list[PairBatch], np.ndarray],
    overrides: dict[str, Any],
    seed: int,
    pipeline: type[PymkPipeline] = PymkPipeline,
) -> dict[str, Any]:
    """Retrain the rankers of ``pipeline`` with ``overrides`` and ranker ``seed`` on the kept slices (of
    that same pipeline class); §4 metrics."""
    slices, batches, backoff = kept
    config = replace(config_from_dict(overrides, RankerConfig, where="variant"), seed=seed)
    pipe = pipeline(PipelineConfig(ranker=config))
    started = time.perf_counter()
    pipe.fit_rankers(slices)
    users = np.concatenate([pb.users[pb.rows] for pb in batches])
    cols = np.concatenate([pb.cols for pb in batches])
    scores = np.concatenate([pipe.rank(pb) for pb in batches])
    model = CachedScores(users, cols, scores, backoff)
    found = evaluate_model(split, model, KS, name="pymk", ranker=EvalRanker(TrainGraph.from_split(split)))
    row: dict[str, Any] = {m: round(found[m], 4) for m in METRICS}
    row["rounds"] = [r.best_rounds for r in pipe.rankers]
    row["seconds"] = round(time.perf_counter() - started, 1)
    return row


def without_columns(
    kept: tuple[list[Examples], list[PairBatch], np.ndarray], names: list[str], feature_names: tuple[str, ...]
) -> tuple[list[Examples], list[PairBatch], np.ndarray]:
    """``kept`` with the columns ``names`` set to 0 everywhere: constant, so no tree can split on them —
    the rankers as if trained without those features."""
    idx = [feature_names.index(n) for n in names]

    def zeroed(features: np.ndarray) -> np.ndarray:
        out = features.copy()
        out[:, idx] = 0.0
        return out

    slices, batches, backoff = kept
    return (
        [replace(e, features=zeroed(e.features)) for e in slices],
        [replace(b, features=zeroed(b.features)) for b in batches],
        backoff,
    )


def run_pipeline(split: Split, pipeline: type[PymkPipeline], seeds: list[int]) -> dict[str, Any]:
    """Fit ``pipeline`` on ``split`` once (:func:`kept_fit`), then its rankers per ranker seed; §4 metrics
    per seed, their mean and the seconds it all took."""
    started = time.perf_counter()
    kept = kept_fit(split, pipeline)
    runs = {str(s): run_variant(split, kept, {}, s, pipeline) for s in seeds}
    mean = {m: round(float(np.mean([r[m] for r in runs.values()])), 4) for m in METRICS}
    return {"seeds": runs, "mean": mean, "seconds": round(time.perf_counter() - started, 1)}


def compare_pipelines(
    datasets: str, pipelines: dict[str, type[PymkPipeline]], seeds: list[int], out: Path, depth: int = 1
) -> dict[str, Any]:
    """:func:`run_pipeline` of every named pipeline on each data set's inner split (of ``depth``), printed
    (recall@20 / ndcg@20 per seed and mean) and written to ``out`` as each finishes."""
    results: dict[str, Any] = {}
    for dataset, split in validation_splits(datasets, depth):
        results[dataset] = {}
        for name, pipeline in pipelines.items():
            row = results[dataset][name] = run_pipeline(split, pipeline, seeds)
            each = "  ".join(f"s{s} {r['recall@20']:.4f}/{r['ndcg@20']:.4f}" for s, r in row["seeds"].items())
            mean = row["mean"]
            print(
                f"{dataset} {name:<17} recall@20/ndcg@20 mean {mean['recall@20']:.4f}/{mean['ndcg@20']:.4f}"
                f"  ({each}; {row['seconds']:.0f} s)",
                flush=True,
            )
            write_results(out, results)
    print(f"wrote {out}")
    return results


def read_variants(
    parser: argparse.ArgumentParser, specs: list[str], config: type[Any]
) -> dict[str, dict[str, Any]]:
    """``{"default": {}}`` and each ``NAME=JSON`` of ``specs``: overrides of dataclass ``config``, checked
    here (a bad spec is a ``parser`` error naming it, before any fit)."""
    variants: dict[str, dict[str, Any]] = {"default": {}}
    for spec in specs:
        name, _, text = spec.partition("=")
        try:
            variants[name] = json.loads(text)
            config_from_dict(variants[name], config, where="variant")
        except (ValueError, BundleError) as exc:
            parser.error(f"--variant {spec}: {exc}")
    return variants


def write_results(path: Path, results: dict[str, Any]) -> None:
    """Write ``results`` as indented JSON to ``path`` (its folder made), as every step finishes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", default="CollegeMsg,bitcoin-otc,ego-Facebook")
    parser.add_argument("--seeds", default="0,1,2", help="ranker seeds, comma-separated")
    parser.add_argument(
        "--variant", action="append", default=[], help='NAME=JSON RankerConfig overrides, e.g. a={"bags": 1}'
    )
    parser.add_argument(
        "--ablate",
        action="append",
        default=[],
        help="NAME=f1,f2: the default rankers trained and scored without those pair features",
    )
    add_depth_argument(parser)
    parser.add_argument("--out", type=Path, default=HERE / "out" / "ranker_variants.json")
    args = parser.parse_args()
    variants = read_variants(parser, args.variant, RankerConfig)
    ablations = {name: cols.split(",") for name, _, cols in (a.partition("=") for a in args.ablate)}
    names = pair_feature_names()
    for name, cols in ablations.items():
        unknown = sorted(set(cols) - set(names))
        if name in variants or unknown:
            parser.error(f"--ablate {name}: a name taken, or unknown feature(s) {', '.join(unknown)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    results: dict[str, Any] = {}
    for dataset, split in validation_splits(args.datasets, args.depth):
        started = time.perf_counter()
        kept = kept_fit(split)
        print(
            f"{dataset}: default pipeline fitted and features kept in {time.perf_counter() - started:.0f} s"
        )
        results[dataset] = {}
        runs_of: list[tuple[str, list[str], dict[str, Any]]] = [(n, [], o) for n, o in variants.items()]
        runs_of += [(name, cols, {}) for name, cols in ablations.items()]
        for name, cols, overrides in runs_of:
            data = without_columns(kept, cols, names) if cols else kept  # one copy held at a time
            runs = [run_variant(split, data, overrides, seed) for seed in seeds]
            mean = {m: round(float(np.mean([r[m] for r in runs])), 4) for m in METRICS}
            results[dataset][name] = {"seeds": dict(zip(map(str, seeds), runs, strict=True)), "mean": mean}
            each = "  ".join(
                f"s{s} {r['recall@20']:.4f}/{r['ndcg@20']:.4f}" for s, r in zip(seeds, runs, strict=True)
            )
            print(
                f"  {name:<16} recall@20/ndcg@20 mean {mean['recall@20']:.4f}/{mean['ndcg@20']:.4f}  ({each})"
            )
        write_results(args.out, results)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
