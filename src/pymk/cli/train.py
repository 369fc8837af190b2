"""``pymk train``: train the pipeline on PYMK_HOME's data and register (and promote) a model version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from pymk.cli.common import ConfigOption, HomeOption, console, settings_from, user_errors
from pymk.errors import InvalidInput

if TYPE_CHECKING:  # NumPy, LightGBM and MLflow load only when the command runs
    from pymk.models.pipeline import PipelineConfig
    from pymk.training.train import TrainResult

_HELP = """Train the pymk pipeline on the interactions imported into PYMK_HOME and register a model version.

What is fitted on what: the interactions (connect, follow, message, like) are ordered by time (untimed
data: shuffled with --seed) and split as `pymk evaluate` splits a file. The pipeline is fitted on the first
(1 - holdout fraction) of the rows and measured on the new pairs of the rest (recall@10/20/50,
ndcg@10/20/50). Then it is fitted again on all rows: that refit is the shipped bundle, registered with
the holdout metrics, the data fingerprint, the config and the code revision, in one tracked MLflow run.
The registry's gate promotes it unless it is worse than the active version on the gate metric
(PYMK_GATE_METRIC, recall@20 by default).

Example: pymk import CollegeMsg.txt --format snap-temporal && pymk train
"""


def _pipeline_config(path: Path | None, seed: int) -> PipelineConfig:
    from dataclasses import replace

    from pymk.models.bundle import config_from_dict
    from pymk.models.pipeline import PipelineConfig

    if path is None:
        return PipelineConfig(seed=seed)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"cannot read --pipeline-config {path}: {exc}") from exc
    config: PipelineConfig = config_from_dict(data, PipelineConfig, where=str(path))
    return replace(config, seed=seed)


def train_command(
    holdout_fraction: Annotated[
        float,
        typer.Option(
            "--holdout-fraction", help="Share of the rows (the latest) held out to measure the model."
        ),
    ] = 0.2,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            help="Seed of the pipeline's sampling and of the shuffle of untimed data (default: settings).",
            show_default=False,
        ),
    ] = None,
    no_promote: Annotated[
        bool, typer.Option("--no-promote", help="Register the version but leave the active one as it is.")
    ] = False,
    pipeline_config: Annotated[
        Path | None,
        typer.Option(
            "--pipeline-config",
            help='JSON object overriding PipelineConfig fields, e.g. {"ranker": {"max_rounds": 100}}.',
            show_default=False,
        ),
    ] = None,
    json_out: Annotated[
        Path | None,
        typer.Option(
            "--json", help="Also write the result (version, metrics, run) as JSON here.", show_default=False
        ),
    ] = None,
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    from pymk.training.train import train_home

    with user_errors():
        settings = settings_from(home, config)
        pipeline = _pipeline_config(pipeline_config, settings.seed if seed is None else seed)
        columns = (
            SpinnerColumn(),
            TextColumn("{task.description:<46}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
            task = bar.add_task("starting", total=None)

            def on_progress(stage: str, done: int, total: int) -> None:
                bar.update(task, description=stage, completed=done, total=total or None)

            result = train_home(
                settings,
                config=pipeline,
                holdout_fraction=holdout_fraction,
                promote=not no_promote,
                progress=on_progress,
            )
    _print_result(result)
    if json_out is not None:
        json_out.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
        console.print(f"wrote {json_out}", highlight=False)


def _print_result(result: TrainResult) -> None:
    table = Table(title=f"pymk train · {result.version}", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for name, value in result.metrics.items():
        table.add_row(f"holdout {name}", f"{value:.4f}")
    table.add_row("version", result.version)
    table.add_row("active", "yes" if result.promoted else "no")
    table.add_row("rows / users", f"{result.rows:,} / {result.users:,}")
    h = result.holdout
    table.add_row("holdout query users / truth", f"{h['query_users']:,} / {h['truth_pairs']:,}")
    table.add_row("data", result.data_fingerprint[:12])
    table.add_row("run", result.run_id)
    table.add_row("seconds", f"{sum(result.seconds.values()):.1f}")
    out = Console(soft_wrap=True)
    out.print(table)
    if result.gate:
        console.print(f"[yellow]{escape(result.gate)}[/]", highlight=False, soft_wrap=True)
    else:
        console.print(f"[green]active:[/] {result.version}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``pymk train`` to ``app``."""
    app.command("train", help=_HELP)(train_command)
