"""``pymk models``: list, show, promote and roll back the model versions under ``PYMK_HOME/models``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pymk.cli.common import ConfigOption, HomeOption, console, settings_from, user_errors

if TYPE_CHECKING:
    from pymk.registry import ModelRegistry, ModelVersion

VersionArg = Annotated[str, typer.Argument(help="Version id, e.g. v0003-20261127T1130Z.", show_default=False)]
_METRICS_SHOWN = 3


def _registry(home: HomeOption, config: ConfigOption) -> ModelRegistry:
    from pymk.registry import open_registry

    return open_registry(settings_from(home, config))


def _metrics(version: ModelVersion) -> str:
    """The first few metrics, recall@k before ndcg@k before the rest."""
    rank = {"recall@": 0, "ndcg@": 1}
    items = sorted(
        version.manifest.metrics.items(), key=lambda kv: (rank.get(kv[0].split("@")[0] + "@", 2), kv[0])
    )
    return ", ".join(f"{k}={v:.4f}" for k, v in items[:_METRICS_SHOWN])


def _stdout() -> Console:
    """Tables go to stdout; when that is not a terminal (a pipe, a file) they are not cut to 80 columns."""
    out = Console(soft_wrap=True)
    return out if out.is_terminal else Console(soft_wrap=True, width=max(out.width, 200))


def list_command(home: HomeOption = None, config: ConfigOption = None) -> None:
    """Every model version, oldest first; the active one is marked with *."""
    with user_errors():
        registry = _registry(home, config)
        versions = registry.list()
        active = registry.active()
    if not versions:
        console.print("no model versions yet: `pymk train` registers one")
        return
    table = Table(title="model versions")
    table.add_column("", no_wrap=True)
    table.add_column("version", no_wrap=True)
    for column in ("created (UTC)", "model", "metrics", "data", "code", "run"):
        table.add_column(column)
    for v in versions:
        m = v.manifest
        table.add_row(
            "*" if active is not None and active.version == v.version else "",
            m.version,
            m.created_at.replace("T", " ").rstrip("Z")[:16],
            escape(f"{m.model_name} ({m.model_kind})"),
            escape(_metrics(v)),
            m.data_fingerprint[:12],
            m.code.short(),
            (m.mlflow_run_id or "")[:12],
        )
    _stdout().print(table)


def show_command(version: VersionArg, home: HomeOption = None, config: ConfigOption = None) -> None:
    """One version's manifest as JSON, with its directory and whether it is active."""
    with user_errors():
        registry = _registry(home, config)
        found = registry.get(version)
        active = registry.active()
    is_active = active is not None and active.version == found.version
    console.print(f"{found.path}{'  (active)' if is_active else ''}", highlight=False)
    typer.echo(found.manifest.model_dump_json(indent=2))


def promote_command(
    version: VersionArg,
    force: Annotated[
        bool, typer.Option("--force", help="Promote even if the evaluation gate refuses.")
    ] = False,
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    """Make VERSION the active model, if it is no worse than the active one on the gate metric."""
    with user_errors():
        registry = _registry(home, config)
        before = registry.active()
        promoted = registry.promote(version, force=force)
    if before is not None and before.version == promoted.version:
        console.print(f"{promoted.version} is already active")
    else:
        was = f" (was {before.version})" if before is not None else ""
        console.print(f"[green]active:[/] {promoted.version}{was}{' [forced]' if force else ''}")


def rollback_command(home: HomeOption = None, config: ConfigOption = None) -> None:
    """Make the previously active version active again."""
    with user_errors():
        registry = _registry(home, config)
        before = registry.active()
        now = registry.rollback()
    was = f" (was {before.version})" if before is not None else ""
    console.print(f"[green]active:[/] {now.version}{was}")


def history_command(home: HomeOption = None, config: ConfigOption = None) -> None:
    """Every change of the active version, oldest first."""
    with user_errors():
        entries = _registry(home, config).history()
    table = Table(title="active version history")
    for column in ("at (UTC)", "action", "version", "previous", "forced"):
        table.add_column(column)
    for e in entries:
        table.add_row(e.at, e.action, e.version, e.previous or "", "yes" if e.forced else "")
    _stdout().print(table)


def register(app: typer.Typer) -> None:
    """Add ``pymk models {list,show,promote,rollback,history}`` to ``app``."""
    models = typer.Typer(help="Model versions: list, show, promote, roll back.", no_args_is_help=True)
    models.command("list")(list_command)
    models.command("show")(show_command)
    models.command("promote")(promote_command)
    models.command("rollback")(rollback_command)
    models.command("history")(history_command)
    app.add_typer(models, name="models")
