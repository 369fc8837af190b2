"""``pymk monitor``: data and prediction drift of the live data against the model version's profile."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pymk.cli.common import ConfigOption, HomeOption, console, settings_from
from pymk.errors import PymkError

_HELP = (
    "Compare a recent window of PYMK_HOME's events and the model's scores with the reference profile saved "
    "when the model version was trained: per feature (PSI, Kolmogorov-Smirnov or normed Wasserstein for "
    "numeric, chi-square or Jensen-Shannon for categorical, as Evidently chooses) and overall.\n\n"
    "Features: new-user share, activity (events per active user per day), degree and event-type mix (the "
    "data group), the ranker scores of the top-k (prediction) and the ranker's pair features (features). "
    "The verdict counts the groups in drift_verdict_groups (default: data); thresholds are the drift_* "
    "settings. The window ends at the newest event.\n\n"
    "Every run writes PYMK_HOME/monitoring/drift-latest.json and appends to drift-history.jsonl.\n\n"
    "Business metrics: from the impression, click and connect events in the log that carry a served "
    "list's request id, model version and source, the CTR (clicks per impression) and acceptance (connects "
    "within 7 days per impression) per model version and per source, with 95% Wilson intervals, over the "
    "same window (--ctr-all: the whole log). They go in the table, in --json (key ctr) and in --report's "
    "CTR-over-time plot; they do not change the exit status.\n\n"
    "Exit status: 0 no drift, 1 drift, 2 usage error (bad option, no model, no profile, no events)."
)


def monitor_command(
    version: Annotated[
        str | None,
        typer.Option(
            "--version", help="Model version to compare with (default: the active one).", show_default=False
        ),
    ] = None,
    window: Annotated[
        str | None,
        typer.Option(
            "--window",
            help="Length of the recent window, e.g. 30m, 24h, 7d (default: the reference profile's, "
            "which is drift_window at training time).",
            show_default=False,
        ),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the report as JSON here.", show_default=False)
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Also write a self-contained HTML report (drift per feature and over time, latency, CTR).",
            show_default=False,
        ),
    ] = None,
    access_log: Annotated[
        Path | None,
        typer.Option(
            "--access-log",
            help="With --report: pymk serve's JSON-lines log, for the latency-over-time plot.",
            show_default=False,
        ),
    ] = None,
    ctr_all: Annotated[
        bool,
        typer.Option("--ctr-all", help="CTR and acceptance over the whole event log instead of the window."),
    ] = False,
    ctr_bucket: Annotated[
        str | None,
        typer.Option(
            "--ctr-bucket",
            help="Time bucket of the CTR series, e.g. 1h, 1d (default: 1h for windows up to 2d, else 1d).",
            show_default=False,
        ),
    ] = None,
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    """Report drift of the live data against the model version's reference profile, and CTR."""
    try:
        drifted = monitor_report(
            version,
            window,
            json_out,
            report,
            access_log,
            home,
            config,
            ctr_all=ctr_all,
            ctr_bucket=ctr_bucket,
        )
    except PymkError as exc:
        console.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except FileNotFoundError as exc:
        console.print(f"[bold red]error:[/] no such file: {escape(str(exc.filename))}", highlight=False)
        raise typer.Exit(2) from None
    raise typer.Exit(1 if drifted else 0)


def monitor_report(
    version: str | None,
    window: str | None,
    json_out: Path | None,
    report_out: Path | None,
    access_log: Path | None,
    home: Path | None,
    config: Path | None,
    *,
    ctr_all: bool = False,
    ctr_bucket: str | None = None,
) -> bool:
    """What ``pymk monitor`` does (``pymk demo`` calls it too): the drift check, the CTR over its window
    (or the whole log), the tables on stdout and the files asked for. Returns the verdict (True: drift).
    Raises :class:`~pymk.errors.PymkError` subclasses for usage errors (no model, no events, bad option)."""
    from pymk.errors import InvalidInput
    from pymk.monitoring.drift import parse_window
    from pymk.monitoring.monitor import read_history, run_monitor
    from pymk.monitoring.monitor_ctr import monitor_ctr

    bucket_s = None
    if ctr_bucket is not None:
        try:
            bucket_s = parse_window(ctr_bucket)
        except InvalidInput as exc:
            raise InvalidInput(f"--ctr-bucket: {exc.message}") from None
    if access_log is not None and report_out is None:
        raise InvalidInput("--access-log feeds the HTML report: give --report FILE too")
    if access_log is not None and not access_log.is_file():
        raise InvalidInput(f"--access-log: no such file: {access_log}")
    settings = settings_from(home, config)
    with console.status("comparing the recent window with the reference profile ..."):
        result = run_monitor(settings, version=version, window=window)
    with console.status("counting impressions, clicks and connects ..."):
        ctr = monitor_ctr(settings, result, whole_log=ctr_all, bucket_s=bucket_s)
    ref_s, cur_s = result.reference_window.seconds, result.window.seconds
    if ref_s and cur_s and ref_s != cur_s:
        console.print(
            f"[yellow]note:[/] the reference profile covers {_span(ref_s)}, this window {_span(cur_s)}: "
            "new-user share and the degree of active users depend on the window length",
            highlight=False,
        )
    table = _table(result)
    _fitted(table).print(table)
    print_ctr(ctr)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps({**result.to_dict(), "ctr": ctr.to_dict()}, indent=2) + "\n")
        console.print(f"wrote {json_out}")
    if report_out is not None:
        from pymk.monitoring.report import read_access_log, write_monitor_report

        latency = None
        if access_log is not None:
            latency, skipped = read_access_log(access_log)
            if skipped:
                console.print(f"{access_log}: skipped {skipped:,} lines that are not request lines")
        write_monitor_report(report_out, result, read_history(settings), latency, ctr.points())
        console.print(f"wrote {report_out}")
    return result.drifted


def _span(seconds: float) -> str:
    for unit, size in (("d", 86_400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _table(result: object) -> Table:
    from pymk.monitoring.drift import group_of
    from pymk.monitoring.monitor import DriftReport

    assert isinstance(result, DriftReport)
    w = result.window.iso()
    verdict = "[bold red]DRIFT[/]" if result.drifted else "[bold green]no drift[/]"
    table = Table(
        title=f"pymk monitor · {result.model_version} · {verdict}",
        caption=f"window {w['start']} → {w['end']} · {w['events']:,} events · "
        f"{result.drift.share_drifted:.0%} of the voting features "
        f"({', '.join(result.voting_groups)}) drifted",
        header_style="bold",
    )
    for name, justify in (
        ("feature", "left"),
        ("group", "left"),
        ("stat", "left"),
        ("value", "right"),
        ("threshold", "right"),
        ("drift", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for f in result.features:
        table.add_row(
            escape(f.name),
            group_of(f.name),
            f.stat,
            f"{f.value:.4g}",
            f"{f.threshold:g}",
            "[bold red]drift[/]" if f.drifted else "",
        )
    return table


def _fitted(table: Table) -> Console:
    """stdout's console; piped, one as wide as ``table``'s content, so no cell is cut or wrapped."""
    out = Console()
    if not out.is_terminal:
        out = Console(width=max(80, out.measure(table, options=out.options.update_width(300)).maximum))
    return out


def print_ctr(ctr: object) -> None:
    """Print the CTR table of ``ctr`` (a :class:`~pymk.monitoring.monitor_ctr.MonitorCtr`) to stdout: one
    row per model version (every source), then one per version and source; or a line saying there is no
    feedback."""
    from pymk.monitoring.ctr import ALL_SOURCES
    from pymk.monitoring.monitor_ctr import MonitorCtr

    assert isinstance(ctr, MonitorCtr)
    scope = "the whole log" if ctr.scope == "log" else "the window"
    if ctr.impressions == 0:
        Console().print(
            f"CTR: no impression events in {scope} (feedback carries request_id, model_version, source)"
        )
        return
    rep = ctr.report
    table = Table(
        title=f"CTR and acceptance over {scope}",
        caption=f"{rep.confidence:.0%} Wilson intervals · acceptance: a connect within "
        f"{_span(rep.window_s)} of the impression · {rep.unmatched_clicks:,} attributed clicks "
        "without their impression",
        header_style="bold",
    )
    for name, justify in (
        ("model version", "left"),
        ("source", "left"),
        ("impressions", "right"),
        ("clicks", "right"),
        ("CTR", "right"),
        ("accepted", "right"),
        ("acceptance", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    by_version = {row.model_version: [row] for row in rep.versions}
    for row in rep.totals:
        if row.source != ALL_SOURCES and row.source != row.model_version:
            by_version.setdefault(row.model_version, []).append(row)
    for rows in by_version.values():
        for i, row in enumerate(rows):
            table.add_row(
                escape(row.model_version) if i == 0 else "",
                escape(row.source),
                f"{row.impressions:,}",
                f"{row.clicks:,}",
                _rate(row.ctr, row.ctr_low, row.ctr_high),
                f"{row.accepted:,}",
                _rate(row.acceptance, row.acceptance_low, row.acceptance_high),
                end_section=i == len(rows) - 1,
            )
    _fitted(table).print(table)


def _rate(value: float | None, low: float | None, high: float | None) -> str:
    if value is None or low is None or high is None:
        return "–"
    return f"{value:.2%} [{low:.2%}, {high:.2%}]"


def register(app: typer.Typer) -> None:
    """Add ``pymk monitor`` to ``app``."""
    app.command("monitor", help=_HELP)(monitor_command)
