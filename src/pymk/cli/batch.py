"""``pymk batch``: precompute every user's top-k with the active model version into the list store."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pymk.cli.common import ConfigOption, HomeOption, console, settings_from, user_errors
from pymk.errors import InvalidInput


class Engine(StrEnum):
    """Where the users are scored."""

    LOCAL = "local"
    RAY = "ray"


_HELP = """Precompute the top-k recommendations of every user with the active model version.

Loads the registry's active version (in every worker process: loading rebuilds the model's scoring
snapshot, seconds to minutes by data size), scores every user that is not deleted, never listing the
user itself, a connection, a blocked or blocking user or a deleted one, and commits the lists to the
store of PYMK_LISTS_URL (memory-mapped files under PYMK_HOME by default, or Redis) with the model version
and when each list was computed. A running `pymk serve` picks the new lists up without a restart.

Example: pymk import CollegeMsg.txt --format snap-temporal && pymk train && pymk batch --k 50

--users FILE scores only the users listed there (one external id per line), e.g. a random sample to time
the batch on a large home (benchmarks/scaling.py); the committed snapshot then holds only their lists,
so a hybrid server scores every other user in real time until a full run commits.
"""


def batch_command(
    k: Annotated[int, typer.Option(min=1, max=200, help="List length stored per user (1..200).")] = 50,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Worker processes (default: one per core).", show_default=False),
    ] = None,
    chunk: Annotated[int, typer.Option(min=1, help="Users scored per task.")] = 512,
    engine: Annotated[
        Engine,
        typer.Option(
            help="local: worker processes on this machine; ray: actors of a Ray cluster sharing one "
            "loaded model through the object store (needs pymk[ray])."
        ),
    ] = Engine.LOCAL,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help="Ray cluster to join ('auto', ray://host:10001); default: a local Ray for this run.",
            show_default=False,
        ),
    ] = None,
    users_file: Annotated[
        Path | None,
        typer.Option(
            "--users",
            help="Score only the users listed in this file (one external id per line, blank lines "
            "ignored); the snapshot then holds only their lists. Local engine only.",
            show_default=False,
        ),
    ] = None,
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    with user_errors():
        from pymk.serving.batch import run_batch

        settings = settings_from(home, config)
        users = None if users_file is None else _read_users(users_file, engine)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task("loading the model", total=None)

            def progress(phase: str, done: int, total: int) -> None:
                if phase == "score":
                    bar.update(task, description="scoring users", completed=done, total=total)

            if engine is Engine.RAY:
                from pymk.scaleout.ray_batch import run_batch_ray

                run = run_batch_ray(
                    settings, k=k, workers=workers, chunk=chunk, address=ray_address, progress=progress
                )
            else:
                run = run_batch(settings, k=k, workers=workers, chunk=chunk, users=users, progress=progress)
    info = run.info
    console.print(
        f"precomputed {info.users} lists of up to {info.k} with model {info.model_version} in "
        f"{run.seconds:.1f} s ({run.workers} worker(s); loading the model took {run.load_seconds:.1f} s)"
    )


def _read_users(path: Path, engine: Engine) -> list[str]:
    """The external ids of ``--users`` (one per line, stripped, blank lines skipped)."""
    if engine is not Engine.LOCAL:
        raise InvalidInput("--users: only with --engine local")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(f"--users: cannot read {path}: {error}") from error
    users = [line.strip() for line in text.splitlines() if line.strip()]
    if not users:
        raise InvalidInput(f"--users: {path} lists no user id")
    return users


def register(app: typer.Typer) -> None:
    """Add ``pymk batch`` to ``app``."""
    app.command("batch", help=_HELP)(batch_command)
