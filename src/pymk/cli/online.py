"""``pymk online rebuild``: rebuild the online feature store from the offline event log."""

from __future__ import annotations

import time
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pymk.cli.common import ConfigOption, HomeOption, named_progress, settings_from, user_errors
from pymk.errors import PymkError

if TYPE_CHECKING:
    from pymk.config import Settings
    from pymk.online.base import OnlineStore
    from pymk.online.rebuild import LogSummary, Verification

out = Console()

_REBUILD_HELP = "\n\n".join(
    [
        "Rebuild the online feature store (--online-url / PYMK_ONLINE_URL) from the Parquet event log "
        "under PYMK_HOME: every logged event once, in event-time order, through the store's own apply. "
        "Then check every user's and pair's features against the offline computation over the same log "
        "(online/offline.py), at the log's newest event time.",
        "Redis: the store is built under the staging prefix <prefix>rebuild: that readers do not see, "
        "checked, then switched in one MULTI/EXEC (old keys removed, staging keys renamed): readers see "
        "the old store or the new one, never a mix, and servers following the delta log need no restart "
        "(the rebuilt log continues the old sequence). A mismatch stops before the switch (--force "
        "switches anyway). --no-switch builds under a prefix of its own (<prefix>rebuilt-<UTC time>:) and "
        "prints the URL to point the worker and servers at (Redis Cluster: a transaction cannot span "
        "slots), then restart the servers (their followers track the delta log of one prefix).",
        "memory://: the store lives in the process that uses it; the rebuild is built, checked and "
        "discarded (a consistency check of the log).",
        "The worker must be stopped: the command takes PYMK_HOME's lock (refused while a worker or an "
        "import holds it), and the switch is refused when the live delta log moved meanwhile. "
        "--dry-run only counts what would be applied (and the Redis keys now live).",
    ]
)


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _print_summary(summary: LogSummary, title: str) -> None:
    table = Table(title=title, show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("events to apply", f"{summary.events:,}")
    table.add_row("repeated event ids (once)", f"{summary.repeats:,}")
    table.add_row("untimed rows (left out)", f"{summary.untimed:,}")
    table.add_row("users", f"{summary.users:,}")
    table.add_row("pairs", f"{summary.pairs:,}")
    table.add_row("graph deltas", f"{summary.graph_events:,}")
    table.add_row("event time (UTC)", f"{_when(summary.first_ts)} .. {_when(summary.last_ts)}")
    out.print(table)


def _print_verification(check: Verification) -> None:
    if check.ok:
        out.print(
            f"[green]check passed[/]: {check.users:,} users and {check.pairs:,} pairs equal the offline "
            f"computation at {_when(check.at)} UTC",
            highlight=False,
        )
        return
    out.print(
        f"[red]check failed[/]: {check.mismatched:,} of {check.users + check.pairs:,} users and pairs differ "
        f"from the offline computation at {_when(check.at)} UTC; the first ones:",
        highlight=False,
    )
    for m in check.mismatches:
        out.print(f"  {m.kind} {escape(m.key)}: rebuilt {escape(repr(m.online))}", highlight=False)
        out.print(
            f"  {' ' * len(m.kind)} {' ' * len(m.key)}  offline {escape(repr(m.offline))}", highlight=False
        )


class RebuildRefused(PymkError):
    """The rebuilt store differs from the offline computation; nothing was switched."""

    exit_code = 1


def rebuild_command(
    online_url: Annotated[
        str | None,
        typer.Option(
            "--online-url",
            envvar="PYMK_ONLINE_URL",
            help="Store to rebuild (default: settings).",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be applied; write nothing.")
    ] = False,
    check: Annotated[
        bool, typer.Option("--check/--no-check", help="Compare the rebuilt store with online/offline.py.")
    ] = True,
    switch: Annotated[
        bool, typer.Option("--switch/--no-switch", help="Redis: switch readers to the rebuilt store.")
    ] = True,
    force: Annotated[
        bool, typer.Option("--force", help="Switch even when the check found differences.")
    ] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Events per apply call.")] = 5000,
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    with user_errors():
        settings = settings_from(home, config)
        if online_url is not None:
            settings = settings.model_copy(update={"online_url": online_url})
        run_rebuild(settings, dry_run=dry_run, check=check, switch=switch, force=force, batch_size=batch_size)


def run_rebuild(
    settings: Settings,
    *,
    dry_run: bool = False,
    check: bool = True,
    switch: bool = True,
    force: bool = False,
    batch_size: int = 5000,
) -> Verification | None:
    """Rebuild ``settings.online_url`` from ``settings.home``'s log (see ``pymk online rebuild --help``),
    printing progress and results; returns the check (``None`` without one or in a dry run). Raises
    :class:`RebuildRefused` on a failed check without ``force``, ``HomeBusy``, ``SwitchAborted``,
    ``ConfigError``, ``ServiceUnavailable``."""
    from urllib.parse import urlsplit

    from pymk.online import MemoryOnlineStore
    from pymk.online.rebuild import rebuild, summarise_log, verify
    from pymk.online.redis_rebuild import RedisRebuild, parse_redis_url, unswitched_prefix, with_prefix
    from pymk.stream.worker import home_lock

    url = settings.online_url
    scheme = urlsplit(url).scheme.lower()
    if scheme not in {"memory", "redis", "rediss"}:
        from pymk.errors import ConfigError

        raise ConfigError(f"--online-url: unsupported online store {url!r}: use memory:// or redis://...")
    with ExitStack() as stack:
        if not dry_run:
            stack.enter_context(home_lock(settings.home))
        summary = summarise_log(settings.home)
        _print_summary(summary, ("dry run: " if dry_run else "") + f"rebuild of {url.split('?', 1)[0]}")
        plan: RedisRebuild | None = None
        if scheme != "memory":
            client, prefix, _ = parse_redis_url(url)
            stack.callback(client.close)
            plan = RedisRebuild(client, prefix, None if switch else unswitched_prefix(prefix, time.time()))
            if dry_run:
                live, left = plan.count(prefix), plan.count(plan.staging)
                out.print(
                    f"live keys under {escape(prefix)}: {live:,}; left under {escape(plan.staging)}: {left:,}"
                )
        if dry_run:
            return None
        store: OnlineStore = MemoryOnlineStore() if plan is None else plan.prepare()
        started = time.perf_counter()
        with named_progress() as on_progress:
            applied = rebuild(
                store,
                settings.home,
                batch_size=batch_size,
                total=summary.events,
                progress=lambda done, total: on_progress("rebuilding", done, total),
            )
        seconds = time.perf_counter() - started
        rate = applied / seconds if seconds > 0 else 0.0
        out.print(f"applied {applied:,} events in {seconds:.1f} s ({rate:,.0f}/s)", highlight=False)
        result: Verification | None = None
        if check:
            at = summary.last_ts if summary.last_ts is not None else time.time()
            with named_progress() as on_progress:
                result = verify(store, settings.home, at, progress=lambda d, t: on_progress("checking", d, t))
            _print_verification(result)
            if not result.ok and not force:
                where = f" (left under {plan.staging}; the next rebuild clears it)" if plan else ""
                raise RebuildRefused(f"the rebuilt store was not switched{where}; --force switches anyway")
        if plan is None:
            out.print("memory:// store built, checked and discarded: it lives only in the process using it")
        elif switch:
            done = plan.switch()
            out.print(
                f"[green]switched[/]: {done.renamed:,} keys renamed from {escape(plan.staging)}, "
                f"{done.removed:,} old keys removed, in one transaction "
                f"({done.seconds:.1f} s to send and run)",
                highlight=False,
            )
        else:
            out.print(
                "not switched: point PYMK_ONLINE_URL of the worker and every server at "
                f"{escape(with_prefix(url, plan.staging))}",
                highlight=False,
                soft_wrap=True,
            )
        return result


def register(app: typer.Typer) -> None:
    """Add the ``online`` group (``rebuild``) to ``app``."""
    group = typer.Typer(
        help="The online feature store (PYMK_ONLINE_URL): memory:// or redis://.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    group.command("rebuild", help=_REBUILD_HELP, short_help="Rebuild it from the offline event log.")(
        rebuild_command
    )
    app.add_typer(group, name="online")
