"""The ``pymk`` command line: thin Typer commands over the use cases.

Each command lives in its own module with a ``register(app)`` function, so commands stay small and
independent; this module only assembles them.
"""

from __future__ import annotations

import typer

from pymk.cli import (
    batch,
    deadletter,
    demo,
    evaluate,
    importer,
    models,
    monitor,
    online,
    serve,
    simulate,
    train,
    worker,
)

app = typer.Typer(
    name="pymk",
    help="pymk: People You May Know — real-time friend recommendations. State lives under PYMK_HOME.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (
    importer,
    deadletter,
    evaluate,
    simulate,
    train,
    batch,
    demo,
    models,
    serve,
    worker,
    monitor,
    online,
):
    module.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
