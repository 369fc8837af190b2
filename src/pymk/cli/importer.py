"""``pymk import FILE --format F``: load data into PYMK_HOME (rejects: ``pymk deadletter``)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from pymk.cli.common import ConfigOption, HomeOption, console, settings_from, user_errors
from pymk.config import Settings
from pymk.io.formats import SHAPE, Format

if TYPE_CHECKING:  # the importer pulls in Arrow, DuckDB and NumPy: only when a command runs
    from pymk.io.importer import ImportReport

out = Console()  # results go to stdout; progress and errors to stderr


class OnError(StrEnum):
    """What a malformed line does to an import."""

    STOP = "stop"
    SKIP = "skip"


_FORMATS = "; ".join(f"{f.value}: {SHAPE[f]}" for f in Format)


def import_command(
    file: Annotated[
        Path, typer.Argument(help="File to import, plain or gzip.", show_default=False, metavar="FILE")
    ],
    fmt: Annotated[
        Format, typer.Option("--format", "-f", help=f"Input format ({_FORMATS}).", show_default=False)
    ],
    on_error: Annotated[
        OnError,
        typer.Option(
            "--on-error",
            help="stop: the first malformed line aborts the import and nothing is applied (exit 2). "
            "skip: malformed lines go to the dead-letter store and the import goes on.",
        ),
    ] = OnError.STOP,
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Also write the report as JSON to this file.", show_default=False),
    ] = None,
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    """Import a data set (DESIGN §3 formats) into PYMK_HOME: event log, id map and graph.

    Idempotent: importing the same rows again changes nothing. Rejected lines (self-loops always,
    malformed ones with --on-error skip) go to the dead-letter store; see `pymk deadletter`.
    """
    with user_errors():
        run_import(file, fmt, settings_from(home, config), on_error, json_out)


def run_import(
    file: Path,
    fmt: Format,
    settings: Settings,
    on_error: OnError = OnError.STOP,
    json_out: Path | None = None,
) -> ImportReport:
    """Import ``file`` with a progress bar, print the report table, return the report.

    Shared by ``pymk import`` and ``pymk demo``; raises what :func:`import_file` raises.
    """
    from pymk.io.importer import import_file

    size = file.stat().st_size if file.is_file() else 0
    columns = (
        TextColumn("[bold]importing[/] {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("{task.fields[rows]:,} rows"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(escape(file.name), total=size or None, rows=0)
        report = import_file(
            file,
            fmt,
            settings,
            on_error=on_error.value,
            progress=lambda done, rows: bar.update(task, completed=done, rows=rows),
        )
    _print_report(report)
    if json_out is not None:
        json_out.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return report


def _print_report(report: ImportReport) -> None:
    table = Table(title=f"imported {escape(report.source)} ({report.format})", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    rejected = sum(report.rejected.values())
    table.add_row("rows read", f"{report.rows_read:,}")
    table.add_row("applied", f"{report.applied:,}")
    table.add_row("duplicates skipped", f"{report.duplicates:,}")
    table.add_row("rejected", f"{rejected:,}")
    for reason, count in report.rejected.items():
        table.add_row(f"  {reason}", f"{count:,}")
    table.add_row("  new in dead-letter store", f"{report.dead_lettered:,}")
    table.add_row("users", f"{report.users:,} (+{report.new_users:,})")
    table.add_row("connections", f"{report.connections:,} (+{report.new_connections:,})")
    table.add_row("seconds", f"{report.seconds:.2f}")
    table.add_row("rows/s", f"{report.rows_per_second:,.0f}")
    out.print(table)
    stages = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in report.stages.items())
    out.print(f"[dim]stages: {stages}[/]", highlight=False)


_IMPORT_HELP = (
    "Import a data set (DESIGN §3 formats) into PYMK_HOME: event log, id map and graph.\n\n"
    "Idempotent: importing the same rows again, from any file name, changes nothing. Rejected lines "
    "(self-loops always, malformed lines with --on-error skip) go to the dead-letter store; see "
    "`pymk deadletter`."
)


def register(app: typer.Typer) -> None:
    """Add ``import`` to ``app`` (``pymk deadletter`` lives in :mod:`pymk.cli.deadletter`)."""
    app.command("import", help=_IMPORT_HELP)(import_command)
