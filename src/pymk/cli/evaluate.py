"""Placeholder: replaced by the command's real module."""

import typer


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to ``app``."""
