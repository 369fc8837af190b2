"""``pymk demo``: the whole system once, on embedded defaults, with no server and no network port.

The stages (``_HELP`` lists them for ``--help``): simulate (the last day held back as the live stream),
import, shape, evaluate the baselines (JSON and HTML report), train a version (tracked run, registry),
batch precompute, serve (the real HTTP app called in-process, :mod:`pymk.cli.demo_stack`), stream (the
held-back events through ``POST /v1/events`` and the worker; one connect timed to visible), feedback
(simulated impressions and clicks, attributed) and report (``pymk monitor``: drift and CTR);
:mod:`pymk.cli.demo_live` holds the live ones. ``--retrain-flow`` adds the Prefect retrain flow
(:mod:`pymk.pipelines`) at the end. Everything lands under ``PYMK_HOME/demo`` and the home's stores.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from pymk.cli.common import ConfigOption, HomeOption, console, settings_from, user_errors

if TYPE_CHECKING:
    from pymk.config import Settings
    from pymk.sim import SimConfig, SimResult

out = Console()


#: The model the demo trains: the default pipeline made smaller (fewer candidates, training users and
#: boosting rounds), so training takes tens of seconds at the default size; printed by the train stage.
DEMO_PIPELINE: dict[str, Any] = {
    "candidates": {"fof": 40, "ppr": 40, "active": 15, "popular": 10},
    "ranker": {"max_rounds": 40, "early_stopping": 10},
    "train_users": 400,
    "negatives": 30,
    "embedding_dim": 8,
    "gnn": None,
}
#: Acceptance window the feedback's connects are credited in (the held-back live day fits).
LIVE_HOURS = 24.0

_HELP = """Run the whole system once on embedded defaults (no server, no network port), everything under
PYMK_HOME (default ./pymk-home), each stage timed:

1. simulate: a social network and its activity stream; the last --live-hours are held back as the live
    stream (stage 8);
2. import: the rest into the event log, graph and dead-letter store;
3. shape: the network next to the ranges real social data sets fall in (DESIGN §4 split);
4. evaluate: the baselines with the DESIGN §4 protocol, and the HTML report of `pymk evaluate --report`;
5. train: a model version with the demo's pipeline config (printed), a tracked run (MLflow, SQLite under
    the home) and the registry; promoted;
6. batch: every user's top-k precomputed into the list store (`pymk batch`);
7. serve: the real HTTP app called in-process: lists for a sample of users (the shown lists), one printed
    with its reasons, source, model version and request id;
8. stream: the held-back live events through POST /v1/events, the event stream and the worker into the
    home and the online store the server follows; then one connect between the shown user and someone
    in their list, timed from the POST until both users' lists changed;
9. feedback: simulated impressions and clicks on the shown lists, attributed by request id, posted the
    same way (the acceptance ground truth: the live day's connects);
10. report: `pymk monitor` (drift against the version's profile, CTR and acceptance per version and
    source) with its HTML and JSON report.

--no-train stops after stage 4; --no-stream skips stages 8 and 9 (nothing is held back); --retrain-flow
adds the Prefect retrain flow at the end. At the default 20,000 users: 3 min 42 s on a
2-core machine (measured).
"""


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
    train: Annotated[
        bool,
        typer.Option(
            "--train/--no-train",
            help="Train, precompute, serve, stream, feedback and report (stages 5-10); off: stop after "
            "the evaluation.",
        ),
    ] = True,
    stream: Annotated[
        bool,
        typer.Option("--stream/--no-stream", help="Hold back the live hours and stream them (stages 8-9)."),
    ] = True,
    live_hours: Annotated[
        float,
        typer.Option(
            "--live-hours", min=1.0, max=24.0 * 6, help="Simulated hours held back as the live stream."
        ),
    ] = LIVE_HOURS,
    serve_users: Annotated[
        int, typer.Option("--serve-users", min=1, max=100_000, help="Users whose lists are served and shown.")
    ] = 1000,
    pipeline_config: Annotated[
        Path | None,
        typer.Option(
            "--pipeline-config",
            help="JSON PipelineConfig for the train stage, as `pymk train --pipeline-config` takes it "
            "(default: the demo's own, printed by the stage).",
            show_default=False,
        ),
    ] = None,
    retrain_flow: Annotated[
        bool,
        typer.Option(
            "--retrain-flow",
            help="At the end, run the Prefect retrain flow once, in-process: train, gate, precompute the "
            "lists, promote (minutes at 20k users).",
        ),
    ] = False,
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    """Run the whole system on embedded defaults: simulate, import, evaluate, train, serve, stream, report."""
    from pymk.cli.evaluate import parse_models

    with user_errors():
        settings = settings_from(home, config)
        names = parse_models(models)
        pipeline = DEMO_PIPELINE if pipeline_config is None else _read_pipeline(pipeline_config)
        run = _Run(
            settings, users, seed, train, stream, live_hours, serve_users, retrain_flow, config, pipeline
        )
        run.all(names)


class _Run:
    """One demo run: the stages in order, each timed, the summary written at the end."""

    def __init__(
        self,
        settings: Settings,
        users: int,
        seed: int,
        train: bool,
        stream: bool,
        live_hours: float,
        serve_users: int,
        retrain_flow: bool,
        config_path: Path | None = None,
        pipeline: dict[str, Any] | None = None,
    ) -> None:
        self.settings, self.users, self.seed, self.config_path = settings, users, seed, config_path
        self.pipeline = DEMO_PIPELINE if pipeline is None else pipeline
        self.train, self.stream, self.live_hours = train, stream and train, live_hours
        self.serve_users, self.retrain_flow = serve_users, retrain_flow
        self.dir = settings.home / "demo"
        self.total = (
            4 + (6 if train else 0) - (0 if self.stream or not train else 2) + (1 if retrain_flow else 0)
        )
        self.number = 0
        self.seconds: dict[str, float] = {}
        self.summary: dict[str, Any] = {}
        self.outputs: dict[str, Path] = {}

    @contextmanager
    def stage(self, key: str, text: str) -> Iterator[None]:
        self.number += 1
        console.rule(f"[bold]{self.number}/{self.total}[/] {key}: {text}", align="left")
        started = time.perf_counter()
        yield
        self.seconds[key] = round(time.perf_counter() - started, 2)
        console.print(f"[dim]{key}: {self.seconds[key]:.1f} s[/]", highlight=False)

    def all(self, names: list[str]) -> None:
        from pymk.cli.evaluate import run_evaluation
        from pymk.cli.importer import OnError, run_import
        from pymk.evaluation.protocol import split_interactions
        from pymk.io.formats import Format
        from pymk.sim import SimConfig
        from pymk.sim.shape import TARGETS, as_interactions, graph_shape, in_targets

        started = time.perf_counter()
        self.dir.mkdir(parents=True, exist_ok=True)
        events_path = self.dir / "events.jsonl"
        with self.stage("simulate", f"{self.users:,} users (seed {self.seed})"):
            result = _simulate(SimConfig(users=self.users, seed=self.seed), events_path)
            counts = ", ".join(f"{name} {n:,}" for name, n in result.counts().items() if n)
            console.print(
                f"{len(result):,} events ({counts}) -> {events_path}", highlight=False, soft_wrap=True
            )
            live: list[dict[str, Any]] = []
            past_path, cutoff = events_path, float("inf")
            if self.stream:
                past_path = self.dir / "past.jsonl"
                live, cutoff = _hold_back(result, events_path, past_path, self.live_hours)
                console.print(
                    f"held back the last {self.live_hours:g} simulated hours as the live stream: "
                    f"{len(live):,} events (stage 8)",
                    highlight=False,
                )
        self.outputs["events"] = events_path
        with self.stage("import", f"the events into {self.settings.home}"):
            report = run_import(past_path, Format.EVENTS_JSONL, self.settings, OnError.SKIP)
            self.summary["import"] = report.to_dict()
        with self.stage("shape", "the network next to real social data (DESIGN §4 split)"):
            shape = graph_shape(split_interactions(as_interactions(result)), seed=self.seed)
            _print_shape(shape, TARGETS, in_targets(shape))
            self.summary["shape"] = shape
        with self.stage("evaluate", "the baselines (DESIGN §4 protocol) and the HTML report"):
            evaluation_path, html = self.dir / "evaluation.json", self.dir / "evaluation.html"
            self.summary["evaluation"] = run_evaluation(
                events_path, Format.EVENTS_JSONL, [10, 20, 50], names, evaluation_path, report=html
            )
            self.outputs["evaluation"], self.outputs["evaluation report"] = evaluation_path, html
        if self.train:
            self._system(live, cutoff)
        if self.retrain_flow:
            with self.stage("retrain-flow", "Prefect, in-process: train → gate → lists → promote"):
                self.summary["retrain_flow"] = _run_retrain_flow(self.settings.home, self.pipeline)
        self.summary["seconds"] = self.seconds
        summary_path = self.dir / "summary.json"
        summary_path.write_text(json.dumps(self.summary, indent=2, default=str) + "\n")
        self.outputs["summary"] = summary_path
        _print_outputs(self.settings.home, self.outputs, self.seconds)
        console.print(f"[bold green]demo done[/] in {time.perf_counter() - started:.1f} s", highlight=False)

    def _system(self, live: list[dict[str, Any]], cutoff: float) -> None:
        """Stages 5-10: train, batch, serve, stream, feedback, report."""
        from pymk.cli.demo_live import feedback_stage, serve_stage, stream_stage
        from pymk.cli.demo_stack import LocalStack
        from pymk.cli.monitor import monitor_report
        from pymk.models.bundle import config_from_dict
        from pymk.serving.batch import run_batch
        from pymk.training.train import train_home

        settings = self.settings
        with self.stage("train", "a model version: tracked run, registry, promoted"):
            console.print(f"pipeline config: {json.dumps(self.pipeline)}", highlight=False, soft_wrap=True)
            config = config_from_dict({**self.pipeline, "seed": settings.seed})
            with console.status("training ...") as status:
                trained = train_home(
                    settings,
                    config=config,
                    progress=lambda stage, done, total: status.update(f"training: {stage}"),
                )
            metrics = ", ".join(
                f"{k} {v:.4f}" for k, v in trained.metrics.items() if k.startswith(("recall", "ndcg"))
            )
            console.print(
                f"[green]active:[/] {trained.version} · holdout {metrics} · run {trained.run_id} · "
                f"{trained.bundle}",
                highlight=False,
                soft_wrap=True,
            )
            self.summary["train"] = trained.to_dict()
            self.outputs["model"] = trained.bundle
        with self.stage("batch", "every user's top-k into the list store"):
            with console.status("precomputing ..."):
                batch = run_batch(settings, k=50)
            console.print(
                f"{batch.info.users:,} lists of up to {batch.info.k} by {batch.info.model_version} in "
                f"{batch.seconds:.1f} s -> {settings.lists_url}",
                highlight=False,
            )
            self.summary["batch"] = {"users": batch.info.users, "k": batch.info.k, "seconds": batch.seconds}
        served_at = cutoff if self.stream else time.time()
        with LocalStack(settings) as stack:
            with self.stage("serve", "the HTTP app, in-process: lists for a sample of users, one shown"):
                # Shown over the first half of the live day, so most of its connects come after.
                spread = self.live_hours * 1800.0 if self.stream else 0.0
                served, showcase, stats = serve_stage(
                    stack, live, self.serve_users, self.seed, served_at, spread
                )
                self.summary["serve"] = stats
            if self.stream:
                with self.stage("stream", "live events → /v1/events → worker → online store → served lists"):
                    self.summary["stream"] = stream_stage(
                        stack, live, showcase, cutoff + self.live_hours * 3600
                    )
                with self.stage("feedback", "impressions and clicks on the shown lists, attributed"):
                    self.summary["feedback"] = feedback_stage(stack, served, live, cutoff, self.seed)
        with self.stage("report", "pymk monitor: drift and CTR, HTML and JSON"):
            monitor_json, monitor_html = self.dir / "monitor.json", self.dir / "monitor.html"
            drifted = monitor_report(
                None, None, monitor_json, monitor_html, None, settings.home, self.config_path
            )
            self.summary["monitor"] = {"drifted": drifted}
            self.outputs["monitor report"], self.outputs["monitor json"] = monitor_html, monitor_json


def _read_pipeline(path: Path) -> dict[str, Any]:
    """``--pipeline-config``: a JSON object of PipelineConfig fields, checked now (not after minutes)."""
    from pymk.errors import InvalidInput
    from pymk.models.bundle import config_from_dict
    from pymk.models.pipeline import PipelineConfig

    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"cannot read --pipeline-config {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"--pipeline-config {path}: expected a JSON object of PipelineConfig fields")
    config_from_dict(data, PipelineConfig, where=str(path))
    return data


def _simulate(cfg: SimConfig, path: Path) -> SimResult:
    from pymk.cli.simulate import simulate_to_file
    from pymk.sim.writers import OutputFormat

    return simulate_to_file(cfg, path, OutputFormat.JSONL)


def _hold_back(
    result: SimResult, events_path: Path, past_path: Path, hours: float
) -> tuple[list[dict[str, Any]], float]:
    """Split ``events_path`` (``result`` as JSON lines, one line per event in order) at ``hours`` before
    the last event: the earlier lines to ``past_path``, the later ones returned as event dicts in stream
    order, with the cut time (UNIX seconds)."""
    ts = result.to_arrow().column("ts").to_numpy(zero_copy_only=False).astype(float)
    cutoff = float(np.nanmax(ts)) - hours * 3600.0 if len(ts) else 0.0
    live_rows = ts >= cutoff
    live: list[dict[str, Any]] = []
    with events_path.open("rb") as source, past_path.open("wb") as past:
        for is_live, line in zip(live_rows, source, strict=True):
            if is_live:
                live.append(json.loads(line))
            else:
                past.write(line)
    return live, cutoff


def _run_retrain_flow(home: Path, pipeline: dict[str, Any]) -> dict[str, Any]:
    """:func:`pymk.pipelines.retrain_flow` on ``home`` with the demo's ``pipeline`` config (Prefect starts
    a temporary local API). After the stream stage the data differs from the active version's, so it
    trains; the gate then decides."""
    import dataclasses
    import os

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from pymk.pipelines import retrain_flow

    outcome = retrain_flow(home=str(home), pipeline=pipeline)
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


def _print_outputs(home: Path, outputs: dict[str, Path], seconds: dict[str, float]) -> None:
    table = Table(title="outputs", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for label, path in outputs.items():
        table.add_row(label, str(path))
    table.add_row("event log", f"{home / 'events'} (Parquet, by day; `duckdb` can read it)")
    table.add_row("graph", str(home / "graph"))
    table.add_row("dead letters", "pymk deadletter")
    table.caption = "seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items())
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add ``pymk demo`` to ``app``."""
    app.command("demo", help=_HELP)(demo_command)
