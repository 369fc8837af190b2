"""``pymk demo``: the whole loop that exists today, on embedded defaults, with no server.

Simulates a social network and its activity stream, imports it into PYMK_HOME (event log, graph,
dead-letter store), shows its shape next to the ranges real social data sets fall in, and evaluates the
baselines with the DESIGN §4 protocol. ``--retrain-flow`` then runs the Prefect retrain flow
(:mod:`pymk.pipelines`: train, gate, precompute the lists, promote) once in-process; opt-in because it
takes minutes at the default 20k users. Later stages (serve, stream, report) join as they land.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from pymk.cli.common import ConfigOption, HomeOption, console, settings_from, user_errors

out = Console()


def demo_command(
    users: Annotated[
        int, typer.Option("--users", "-n", min=100, help="Users in the simulated network.")
    ] = 20_000,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the simulation (same seed, same results).")
    ] = 0,
    models: Annotated[
        str, typer.Option("--models", "-m", help="Models to evaluate, comma-separated.")
    ] = "popularity,recent,cn,aa,ra,ppr",
    retrain_flow: Annotated[
        bool,
        typer.Option(
            "--retrain-flow",
            help="Then run the Prefect retrain flow once, in-process: train, gate, precompute the lists, "
            "promote (minutes at 20k users).",
        ),
    ] = False,
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    """Run the demo end to end on embedded defaults: simulate, import, check the shape, evaluate.

    Everything it writes lands under PYMK_HOME (default ./pymk-home); the run ends by listing the files.
    """
    from pymk.cli.evaluate import parse_models, run_evaluation
    from pymk.cli.importer import OnError, run_import
    from pymk.cli.simulate import simulate_to_file
    from pymk.evaluation.protocol import split_interactions
    from pymk.io.formats import Format
    from pymk.sim import SimConfig
    from pymk.sim.shape import TARGETS, as_interactions, graph_shape, in_targets
    from pymk.sim.writers import OutputFormat

    with user_errors():
        settings = settings_from(home, config)
        names = parse_models(models)
        demo_dir = settings.home / "demo"
        demo_dir.mkdir(parents=True, exist_ok=True)
        events_path = demo_dir / "events.jsonl"
        started = time.perf_counter()
        steps = 5 if retrain_flow else 4

        _step(1, steps, f"simulating {users:,} users (seed {seed})")
        result = simulate_to_file(SimConfig(users=users, seed=seed), events_path, OutputFormat.JSONL)
        counts = ", ".join(f"{name} {n:,}" for name, n in result.counts().items() if n)
        console.print(f"{len(result):,} events ({counts}) -> {events_path}", highlight=False, soft_wrap=True)

        _step(2, steps, f"importing the events into {settings.home}")
        report = run_import(events_path, Format.EVENTS_JSONL, settings, OnError.SKIP)

        _step(3, steps, "shape of the network next to real social data (DESIGN §4 split)")
        shape = graph_shape(split_interactions(as_interactions(result)), seed=seed)
        _print_shape(shape, TARGETS, in_targets(shape))

        _step(4, steps, "evaluating the baselines (DESIGN §4 protocol)")
        evaluation_path = demo_dir / "evaluation.json"
        evaluation = run_evaluation(events_path, Format.EVENTS_JSONL, [10, 20, 50], names, evaluation_path)

        summary_path = demo_dir / "summary.json"
        summary = {"shape": shape, "import": report.to_dict(), "evaluation": evaluation}
        if retrain_flow:
            _step(5, steps, "the retrain flow (Prefect, in-process): train → gate → lists → promote")
            summary["retrain_flow"] = _run_retrain_flow(settings.home)
        summary_path.write_text(json.dumps(summary, indent=2) + "\n")
        _print_outputs(settings.home, events_path, evaluation_path, summary_path)
        console.print(f"[bold green]demo done[/] in {time.perf_counter() - started:.1f} s", highlight=False)


def _step(number: int, total: int, text: str) -> None:
    console.rule(f"[bold]{number}/{total}[/] {text}", align="left")


def _run_retrain_flow(home: Path) -> dict[str, Any]:
    """:func:`pymk.pipelines.retrain_flow` on ``home`` (Prefect starts a temporary local API)."""
    import dataclasses
    import os

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from pymk.pipelines import retrain_flow

    outcome = retrain_flow(home=str(home))
    if outcome.promoted:
        recall = outcome.metrics.get("recall@20", float("nan"))
        console.print(
            f"[green]active:[/] {outcome.version} (holdout recall@20 {recall:.4f}, {outcome.lists:,} lists)",
            highlight=False,
        )
    else:
        console.print(f"[yellow]not promoted:[/] {outcome.gate or outcome.skipped}", highlight=False)
    return dataclasses.asdict(outcome)


def _print_shape(shape: dict[str, Any], targets: dict[str, tuple[float, float]], ok: dict[str, bool]) -> None:
    table = Table(title="simulated network vs. real social data")
    for name in ("statistic", "simulated", "real data sets", "in range"):
        table.add_column(name, justify="right" if name != "statistic" else "left")
    for key, (lo, hi) in targets.items():
        table.add_row(key, f"{shape[key]:.3f}", f"{lo:g} – {hi:g}", "yes" if ok[key] else "[red]no[/]")
    table.caption = (
        f"{shape['users']:,} train users · {shape['train_pairs']:,} train pairs · "
        f"{shape['query_users']:,} query users"
    )
    out.print(table)


def _print_outputs(home: Path, *paths: Path) -> None:
    table = Table(title="outputs", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for label, path in zip(("events", "evaluation", "summary"), paths, strict=True):
        table.add_row(label, str(path))
    table.add_row("event log", f"{home / 'events'} (Parquet, by day; `duckdb` can read it)")
    table.add_row("graph", str(home / "graph"))
    table.add_row("dead letters", "pymk deadletter")
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add ``pymk demo`` to ``app``."""
    app.command("demo")(demo_command)
