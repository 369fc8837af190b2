"""Shared CLI plumbing: settings from options, one error handler, the Rich console."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from pymk.config import Settings, load_settings
from pymk.errors import PymkError

console = Console(stderr=True)
T = TypeVar("T")

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home", envvar="PYMK_HOME", help="State directory (default ./pymk-home).", show_default=False
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", envvar="PYMK_CONFIG", help="TOML settings file.", show_default=False),
]


def settings_from(home: Path | None, config: Path | None) -> Settings:
    """Settings with ``--home``/``--config`` applied on top of file and environment."""
    return load_settings(config, home=home)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a :class:`PymkError` into a one-line red message and its exit code, never a traceback."""
    try:
        yield
    except PymkError as exc:
        # Messages quote user data and end in a "[reason]" code: print them literally, not as markup.
        console.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except FileNotFoundError as exc:
        console.print(f"[bold red]error:[/] no such file: {escape(str(exc.filename))}", highlight=False)
        raise typer.Exit(2) from None


def run_cli(fn: Callable[[], T]) -> T:
    """Call ``fn`` under :func:`user_errors`."""
    with user_errors():
        return fn()
    raise AssertionError("unreachable")  # pragma: no cover


@contextmanager
def named_progress(label_width: int = 12) -> Iterator[Callable[[str, int, int], None]]:
    """A transient Rich progress display; yields ``on_progress(name, done, total)``, which shows one bar per
    ``name`` (added on its first call) — the callback the evaluation and replay runners take."""
    with Progress(
        TextColumn(f"{{task.description:>{label_width}}}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def on_progress(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total)
            bar.update(tasks[name], completed=done)

        yield on_progress
