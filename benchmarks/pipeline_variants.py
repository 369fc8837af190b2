"""Validation of pipeline settings (candidates, slices, training users): the pipeline refitted per variant.

    .venv/bin/python benchmarks/pipeline_variants.py --datasets ego-Facebook,sx-askubuntu --seeds 0,1 \\
        --variant 'users10k={"train_users": 10000}' [--variant NAME=JSON ...] [--out JSON]

Where :class:`pymk.models.pipeline.PipelineConfig` defaults are chosen, never on the test part: each data
set's §4 train part is split again by §4 (as ``model_validation.py`` does) and, per variant, the pipeline
with those overrides (a JSON object of ``PipelineConfig`` fields, nested ones as objects; ``default`` =
``{}`` is always run first) is fitted on the inner train — slices, rankers and the end snapshot — and then
only its rankers are retrained per ranker seed (as ``ranker_variants.py`` does, which is the cheaper tool
for ranker-only settings). Prints recall@20 / ndcg@20 per variant and seed and their means; writes
``benchmarks/out/pipeline_variants.json``.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

from model_validation import add_depth_argument
from pymk.models.bundle import config_from_dict
from pymk.models.pipeline import PipelineConfig, PymkPipeline
from ranker_variants import compare_pipelines, read_variants

HERE = Path(__file__).resolve().parent


def variant_pipeline(overrides: dict[str, Any]) -> type[PymkPipeline]:
    """A :class:`PymkPipeline` built with ``overrides`` of the default config; the ranker settings it is
    given (``run_variant`` passes the seed that way) replace the ranker part."""
    base = config_from_dict(overrides, PipelineConfig, where="variant")

    class Variant(PymkPipeline):
        def __init__(self, config: PipelineConfig | None = None) -> None:
            super().__init__(base if config is None else replace(base, ranker=config.ranker))

    return Variant


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", default="ego-Facebook")
    parser.add_argument("--seeds", default="0,1", help="ranker seeds, comma-separated")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help='NAME=JSON PipelineConfig overrides, e.g. users10k={"train_users": 10000}',
    )
    add_depth_argument(parser)
    parser.add_argument("--out", type=Path, default=HERE / "out" / "pipeline_variants.json")
    args = parser.parse_args()
    variants = read_variants(parser, args.variant, PipelineConfig)
    seeds = [int(s) for s in args.seeds.split(",")]
    pipelines = {name: variant_pipeline(o) for name, o in variants.items()}
    compare_pipelines(args.datasets, pipelines, seeds, args.out, args.depth)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
