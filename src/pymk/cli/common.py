"""Shared CLI plumbing: settings from options, one error handler, the Rich console."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

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
