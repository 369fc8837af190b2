"""``pymk simulate --live``: simulate, then publish the events to a stream at a steady rate."""

from __future__ import annotations

import time

from rich.progress import Progress, TextColumn, TimeElapsedColumn

from pymk.cli.common import console
from pymk.errors import InvalidInput


def simulate_live(
    users: int,
    connections: int | None,
    avg_degree: float | None,
    days: float,
    seed: int,
    to: str,
    rate: float,
    duration: float | None,
    max_events: int | None,
    stamp_now: bool,
) -> None:
    """Simulate (see ``pymk simulate``) and publish to ``to`` with :func:`pymk.stream.live.publish_live`,
    showing a progress line (published, events/s)."""
    from pymk.sim import SimConfig, simulate
    from pymk.sim.config import DEFAULT_AVG_DEGREE
    from pymk.stream import open_sink
    from pymk.stream.live import publish_live

    if connections is not None and avg_degree is not None:
        raise InvalidInput("give --connections or --avg-degree, not both")
    degree = DEFAULT_AVG_DEGREE if avg_degree is None else avg_degree
    cfg = SimConfig(users=users, connections=connections, avg_degree=degree, days=days, seed=seed)
    with console.status("simulating"):
        result = simulate(cfg)
    total = len(result) if max_events is None else min(len(result), max_events)
    sink = open_sink(to)
    columns = (TextColumn("{task.description}"), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("publishing", total=total)

            def on_chunk(published: int, seconds: float) -> None:
                speed = published / max(seconds, 1e-9)
                text = f"published {published:,}/{total:,} events, {speed:,.0f}/s"
                bar.update(task, completed=published, description=text)

            started = time.perf_counter()
            report = publish_live(
                sink,
                result.iter_tables(100_000),
                rate=rate,
                max_events=max_events,
                duration=duration,
                stamp_now=stamp_now,
                progress=on_chunk,
            )
    finally:
        sink.close()
    console.print(
        f"[bold green]published[/] {report.published:,} events in {time.perf_counter() - started:.1f} s "
        f"({report.rate:,.0f}/s) -> {to}",
        highlight=False,
        soft_wrap=True,
    )
