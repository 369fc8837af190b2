"""``pymk simulate``: generate a synthetic social network and its activity stream to a file, or publish
it live to an event stream (``--live --to URL``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pymk.cli.common import ConfigOption, HomeOption, console, settings_from, user_errors
from pymk.errors import InvalidInput

if TYPE_CHECKING:  # the simulator (NumPy, Arrow) is imported only when the command runs
    from pymk.sim import SimConfig, SimResult
    from pymk.sim.writers import OutputFormat

_HELP = """Generate a synthetic social network and its activity stream (DESIGN §2 events, ordered by ts).

Users arrive over the whole span and belong to communities (schools, workplaces, cities); connections
form by triadic closure, same-community ties and preferential attachment; profile views and messages
tend to precede connections; messages and likes follow them; a few follows, blocks, disconnects and
deleted users. The same --seed always gives the same bytes.

Example: pymk simulate --users 1000000 --connections 20000000 --out events.parquet

Live: pymk simulate --live --to 'redis://127.0.0.1:6379/0?stream=pymk:events' --rate 5000 --duration 60
publishes the events in order at a steady rate (token bucket) to a file:, redis:// or kafka:// stream,
each stamped with the time it is published (--keep-ts keeps the simulated times).
"""


def simulate_command(
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output file: .jsonl, .jsonl.gz or .parquet.", show_default=False),
    ] = None,
    users: Annotated[
        int, typer.Option("--users", "-n", help="Users who sign up over the span.", min=2)
    ] = 20_000,
    connections: Annotated[
        int | None,
        typer.Option(
            "--connections", "-m", help="Connect events to produce (default: users * avg-degree / 2).", min=1
        ),
    ] = None,
    avg_degree: Annotated[
        float | None,
        typer.Option("--avg-degree", help="Average degree (default 20); or give --connections.", min=0.01),
    ] = None,
    days: Annotated[float, typer.Option("--days", help="Length of the simulated span in days.")] = 180.0,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; same seed, same output.")] = 0,
    fmt: Annotated[
        str | None,
        typer.Option("--format", "-f", help="jsonl or parquet (default: from the --out file name)."),
    ] = None,
    into_store: Annotated[
        bool,
        typer.Option(
            "--import",
            help="Also import the events into PYMK_HOME (event log, graph), as `pymk import` would; "
            "needs a jsonl output.",
        ),
    ] = False,
    live: Annotated[bool, typer.Option("--live", help="Publish to the stream --to names instead.")] = False,
    to: Annotated[
        str | None,
        typer.Option(
            "--to", help="Stream URL for --live (file:..., redis://..., kafka://...; default: events_url)."
        ),
    ] = None,
    rate: Annotated[float, typer.Option("--rate", help="Events per second for --live.", min=0.001)] = 1000.0,
    duration: Annotated[
        float | None, typer.Option("--duration", help="Stop --live after this many seconds.", min=0)
    ] = None,
    events: Annotated[
        int | None, typer.Option("--events", help="Stop --live after this many events.", min=1)
    ] = None,
    keep_ts: Annotated[
        bool, typer.Option("--keep-ts", help="--live: keep the simulated event times.")
    ] = False,
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    """Generate a synthetic social network and its activity stream."""
    if live:
        from pymk.cli.simulate_live import simulate_live

        with user_errors():
            if out is not None or into_store:
                raise InvalidInput("--live publishes to --to URL; it takes no --out or --import")
            settings = settings_from(home, config)
            url = settings.resolve(to or settings.events_url)
            simulate_live(
                users, connections, avg_degree, days, seed, url, rate, duration, events, not keep_ts
            )
        return
    if out is None:
        with user_errors():
            raise InvalidInput("give --out FILE, or --live --to URL")
        return
    from pymk.sim import SimConfig
    from pymk.sim.config import DEFAULT_AVG_DEGREE
    from pymk.sim.writers import OutputFormat, format_for

    with user_errors():
        if connections is not None and avg_degree is not None:
            raise InvalidInput("give --connections or --avg-degree, not both")
        try:
            chosen = format_for(out) if fmt is None else OutputFormat(fmt.lower())
        except ValueError:
            raise InvalidInput(f"unknown --format {fmt!r}: use jsonl or parquet") from None
        if into_store and chosen is not OutputFormat.JSONL:
            raise InvalidInput(
                "--import reads the events back as events-jsonl: give a .jsonl or .jsonl.gz --out"
            )
        degree = DEFAULT_AVG_DEGREE if avg_degree is None else avg_degree
        cfg = SimConfig(users=users, connections=connections, avg_degree=degree, days=days, seed=seed)
        started = time.perf_counter()
        result = simulate_to_file(cfg, out, chosen)
        seconds = time.perf_counter() - started
    counts = ", ".join(f"{name} {n:,}" for name, n in result.counts().items() if n)
    console.print(
        f"[bold green]simulated[/] {result.users:,} users, {result.connections:,} connections, "
        f"{len(result):,} events ({counts}) in {seconds:.1f} s -> {out}",
        highlight=False,
        soft_wrap=True,
    )
    if into_store:
        from pymk.cli.importer import OnError, run_import
        from pymk.io.formats import Format

        with user_errors():
            run_import(out, Format.EVENTS_JSONL, settings_from(home, config), OnError.STOP)


def simulate_to_file(cfg: SimConfig, out: Path, fmt: OutputFormat) -> SimResult:
    """Simulate then write, under one Rich progress bar (simulation 0-70%, writing 70-100%)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from pymk.sim import simulate
    from pymk.sim.writers import write_events

    columns = (TextColumn("{task.description:<22}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"))
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("simulating", total=1.0)

        def on_phase(phase: str, done: float) -> None:
            bar.update(task, completed=0.7 * done, description=f"simulating: {phase}")

        result = simulate(cfg, on_phase)
        total = max(len(result), 1)

        def on_rows(rows: int) -> None:
            bar.update(task, completed=0.7 + 0.3 * rows / total, description=f"writing {fmt.value}")

        write_events(result, out, fmt, on_rows=on_rows)
    return result


def register(app: typer.Typer) -> None:
    """Add ``pymk simulate`` to ``app``."""
    app.command("simulate", help=_HELP)(simulate_command)
