"""``pymk deadletter``: inspect the dead-letter store; ``export`` records to fix; ``replay`` them."""

from __future__ import annotations

import json
import re
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pymk.cli.common import ConfigOption, HomeOption, console, named_progress, settings_from, user_errors
from pymk.events.deadletter import DeadLetter, Selection

if TYPE_CHECKING:
    from pymk.config import Settings
    from pymk.stream.replay import Applier, ReplayReport

out = Console()  # results go to stdout; progress and errors to stderr

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def parse_since(text: str) -> float:
    """UNIX seconds from ``--since``: a duration back from now (``90m``, ``12h``, ``7d``) or an ISO 8601
    date or time (``2026-11-27``, ``2026-11-27T08:00:00+01:00``; without an offset: UTC)."""
    relative = _RELATIVE.match(text.strip())
    if relative:
        return time.time() - float(relative.group(1)) * _UNIT[relative.group(2)]
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is neither a duration (30m, 12h, 7d) nor an ISO 8601 date/time"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def parse_ids(text: str) -> list[int]:
    """Record ids from ``--ids``: comma-separated ids and inclusive ranges (``12,15,20-30``)."""
    ids: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        low, dash, high = part.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise typer.BadParameter(f"{part!r} is not an id or a range like 20-30", param_hint="'--ids'")
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise typer.BadParameter(f"range {part!r} ends before it starts", param_hint="'--ids'")
        ids.extend(range(first, last + 1))
    return ids


ReasonOption = Annotated[
    str | None, typer.Option("--reason", help="Only records with this reason code.", show_default=False)
]
SinceOption = Annotated[
    float | None,
    typer.Option(
        "--since",
        parser=parse_since,
        metavar="WHEN",
        help="Only records received at or after WHEN: a duration back from now (90m, 12h, 7d) or an ISO "
        "8601 date/time (no offset: UTC).",
        show_default=False,
    ),
]
IdsOption = Annotated[
    str | None,
    typer.Option("--ids", help="Only these record ids: 12,15,20-30.", show_default=False, metavar="IDS"),
]
AgainOption = Annotated[
    bool, typer.Option("--again", help="Include records a replay has marked already (left out otherwise).")
]


def _selection(
    reason: str | None, since: float | None, ids: str | None, limit: int | None, again: bool
) -> Selection:
    return Selection(
        reason=reason,
        since=since,
        ids=parse_ids(ids) if ids is not None else None,
        replayed=None if again else False,
        limit=limit,
    )


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _where(r: DeadLetter) -> str:
    return f"{r.source or '-'}:{r.line}" if r.line is not None else (r.source or "-")


def _settings(ctx: typer.Context, home: Path | None, config: Path | None) -> Settings:
    """Settings from the subcommand's --home/--config, else the group's (``deadletter --home H replay``)."""
    group = ctx.obj or {}
    return settings_from(home or group.get("home"), config or group.get("config"))


# -- pymk deadletter (inspect) -----------------------------------------------------------------------


def inspect(
    ctx: typer.Context,
    reason: ReasonOption = None,
    limit: Annotated[int, typer.Option("--limit", min=0, help="How many recent records to list.")] = 20,
    offset: Annotated[int, typer.Option("--offset", min=0, help="Skip this many of the most recent.")] = 0,
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    """List the most recent rejected records (id, reason, source, line) and the counts by reason."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"home": home, "config": config}
        return
    from pymk.stores import deadletter_store

    with user_errors():
        store = deadletter_store(settings_from(home, config))
        try:
            counts = store.counts_by_reason()
            replayed = store.replayed_by_reason()
            records = store.list(limit=limit, offset=offset, reason=reason)
        finally:
            store.close()
    summary = Table(title="dead letters by reason")
    summary.add_column("reason")
    summary.add_column("count", justify="right")
    summary.add_column("replayed", justify="right")
    for code, count in counts.items():
        summary.add_row(code, f"{count:,}", f"{replayed.get(code, 0):,}")
    total = f"[bold]{sum(counts.values()):,}[/]"
    summary.add_row("[bold]total[/]", total, f"[bold]{sum(replayed.values()):,}[/]")
    out.print(summary)
    if not records:
        out.print("no dead letters" + (f" with reason {escape(reason)}" if reason else ""))
        return
    recent = Table(title="most recent first")
    # The id (what `replay --ids` takes) and the replay mark go under the reason: an 80-column terminal
    # has no room for another column without folding source paths.
    for name in ("received (UTC)", "reason, #id", "source:line", "detail", "raw"):
        recent.add_column(name, overflow="fold")
    for r in records:
        raw = r.raw if len(r.raw) <= 80 else r.raw[:77] + "..."
        code = f"{r.reason}\n#{r.id}" + (f"\nreplayed: {r.replay_outcome}" if r.replay_outcome else "")
        recent.add_row(_when(r.received_at), code, escape(_where(r)), escape(r.detail), escape(raw))
    out.print(recent)


# -- pymk deadletter export --------------------------------------------------------------------------


def export_line(record: DeadLetter) -> bytes:
    """One NDJSON line of ``export``: the record's fields, and its raw text as ``event`` (an object, to
    edit in place) when it parses as a JSON object, else as ``raw``."""
    line: dict[str, Any] = {
        "deadletter_id": record.id,
        "reason": record.reason,
        "detail": record.detail,
        "source": record.source,
        "line": record.line,
        "received_at": record.received_at,
    }
    try:
        decoded = orjson.loads(record.raw)
    except orjson.JSONDecodeError:
        decoded = None
    if isinstance(decoded, dict):
        line["event"] = decoded
    else:
        line["raw"] = record.raw
    return orjson.dumps(line) + b"\n"


def export(
    ctx: typer.Context,
    reason: ReasonOption = None,
    since: SinceOption = None,
    ids: IdsOption = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="At most this many (the oldest).", show_default=False)
    ] = None,
    again: AgainOption = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write here instead of stdout.", show_default=False, metavar="FILE"
        ),
    ] = None,
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    """Write the selected records, oldest first, as NDJSON to fix and replay with `replay --input FILE`."""
    from pymk.stores import deadletter_store

    selection = _selection(reason, since, ids, limit, again)
    with user_errors():
        store = deadletter_store(_settings(ctx, home, config))
        try:
            records = store.select(selection)
        finally:
            store.close()
        with ExitStack() as stack:
            sink = stack.enter_context(open(output, "wb")) if output is not None else sys.stdout.buffer
            for record in records:
                sink.write(export_line(record))
            sink.flush()
    console.print(
        f"exported {len(records):,} dead letters" + (f" to {escape(str(output))}" if output else "")
    )


# -- pymk deadletter replay --------------------------------------------------------------------------


class Target(StrEnum):
    """Where the events a replay accepts go."""

    AUTO = "auto"
    STREAM = "stream"
    HOME = "home"


_REPLAY_HELP = "\n\n".join(
    [
        "Validate the selected dead letters again and send the events that now pass through the path live "
        "events take. Records are replayed oldest first; each is reported as applied (written into "
        "PYMK_HOME and the online store by the worker's own batch path), published (to the event stream, "
        "for the running worker), duplicate (its event_id was applied already: nothing sent) or "
        "invalid:<reason> (still rejected).",
        "Each record is then marked (replayed_at, replay_outcome; `pymk deadletter` shows the marks) and "
        "left out of later replays unless --again. A record is marked only after its event was applied or "
        "published, found a duplicate, or its fixed text stored as a new dead letter (source "
        "deadletter#<id>), so a replay killed midway can simply be run again. --dry-run decides and reports "
        "without writing anything.",
        "Fixing: records are replayed as stored (after raising a limit or fixing a validation bug), or as "
        'fixed in --input FILE: NDJSON lines {"deadletter_id": N, "event": {...}} or {"deadletter_id": N, '
        '"raw": "..."}, the shape `pymk deadletter export` writes; only the ids in the file are replayed.',
        "--to auto sends to PYMK_HOME when the event stream is the embedded file stream (taking the home's "
        "lock: stop `pymk worker` on this home first, or use --to stream) and to the stream otherwise "
        "(Redis, Kafka).",
        "Example: pymk deadletter export --reason bad_timestamp -o fix.ndjson; edit fix.ndjson; "
        "pymk deadletter replay --input fix.ndjson --dry-run; pymk deadletter replay --input fix.ndjson",
    ]
)


def replay(
    ctx: typer.Context,
    reason: ReasonOption = None,
    since: SinceOption = None,
    ids: IdsOption = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", min=1, help="Replay at most this many (the oldest).", show_default=False),
    ] = None,
    input_file: Annotated[
        Path | None,
        typer.Option(
            "--input",
            help="Fixed records as NDJSON keyed by deadletter_id (see above); only these ids are replayed.",
            show_default=False,
            metavar="FILE",
        ),
    ] = None,
    again: AgainOption = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would happen; write nothing.")
    ] = False,
    to: Annotated[Target, typer.Option("--to", help="Where accepted events go (see above).")] = Target.AUTO,
    events_url: Annotated[
        str | None,
        typer.Option(
            "--events-url",
            envvar="PYMK_EVENTS_URL",
            help="Event stream (default: settings).",
            show_default=False,
        ),
    ] = None,
    online_url: Annotated[
        str | None,
        typer.Option(
            "--online-url",
            envvar="PYMK_ONLINE_URL",
            help="Online store for --to home (default: settings).",
            show_default=False,
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Records sent and marked together.")
    ] = 500,
    json_out: Annotated[
        Path | None,
        typer.Option(
            "--json",
            help="Also write every record's outcome as JSON here.",
            show_default=False,
            metavar="FILE",
        ),
    ] = None,
    show: Annotated[
        int, typer.Option("--show", min=0, help="Print at most this many per-record rows.")
    ] = 100,
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    selection = _selection(reason, since, ids, limit, again)
    with user_errors():
        settings = _settings(ctx, home, config)
        overrides = {"events_url": events_url, "online_url": online_url}
        settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
        report, where = run_replay(
            settings, selection, input_file, to=to, dry_run=dry_run, batch_size=batch_size
        )
    _print_replay(report, where, show)
    if json_out is not None:
        json_out.write_text(json.dumps(_report_json(report, where), indent=2) + "\n")


def _target(settings: Settings, to: Target) -> Target:
    if to is not Target.AUTO:
        return to
    return Target.HOME if settings.resolve(settings.events_url).startswith("file:") else Target.STREAM


def run_replay(
    settings: Settings,
    selection: Selection,
    input_file: Path | None = None,
    *,
    to: Target = Target.AUTO,
    dry_run: bool = False,
    batch_size: int = 500,
) -> tuple[ReplayReport, str]:
    """Open the stores ``settings`` name, replay ``selection`` (see :mod:`pymk.stream.replay`) with a
    progress bar, return the report and a description of where accepted events went."""
    from pymk import stores
    from pymk.events.validation import Limits
    from pymk.online import open_online
    from pymk.stream import open_sink
    from pymk.stream.replay import HomeApplier, Replayer, StreamApplier, load_fixes
    from pymk.stream.worker import home_lock

    fixes = load_fixes(input_file) if input_file is not None else None
    target = _target(settings, to)
    limits = Limits(settings.max_id_length, settings.max_props_bytes)
    with ExitStack() as stack:
        letters = stores.deadletter_store(settings)
        stack.callback(letters.close)
        seen = stores.seen_events_store(settings)
        stack.callback(seen.close)
        applier: Applier | None = None
        if target is Target.HOME:
            where = f"PYMK_HOME {settings.home} and online store {settings.online_url}"
            if not dry_run:
                stack.enter_context(home_lock(settings.home))
                online = open_online(settings.online_url)
                stack.callback(online.close)
                applier = HomeApplier(
                    settings.home, seen=seen, deadletters=letters, online=online, limits=limits
                )
        else:
            url = settings.resolve(settings.events_url)
            where = f"event stream {url.split('?', 1)[0]}"
            if not dry_run:
                sink = open_sink(url)
                stack.callback(sink.close)
                applier = StreamApplier(sink)
        replayer = Replayer(letters, seen, applier, limits=limits, batch_size=batch_size)
        records = replayer.select(selection, fixes)
        with named_progress() as on_progress:
            report = replayer.run(
                records,
                fixes,
                dry_run=dry_run,
                progress=lambda done, total: on_progress("replaying", done, total),
            )
    return report, where


def _print_replay(report: ReplayReport, where: str, show: int) -> None:
    if not report.attempts:
        out.print("no dead letters selected (records replayed before are left out; --again includes them)")
        return
    table = Table(title=("dry run: " if report.dry_run else "") + f"replay to {escape(where)}")
    for name in ("id", "was", "source:line", "outcome", "event_id / why"):
        table.add_column(name, overflow="fold")
    for a in report.attempts[:show]:
        why = a.event_id or f"{a.detail}" + (" (stored as a new dead letter)" if a.stored_as_new else "")
        fixed = " (fixed)" if a.fixed else ""
        table.add_row(
            str(a.record.id), a.record.reason + fixed, escape(_where(a.record)), a.mark, escape(why or "")
        )
    out.print(table)
    if len(report.attempts) > show:
        out.print(f"... {len(report.attempts) - show:,} more rows (--show N, or --json FILE for all)")
    counts = report.counts()
    out.print(
        f"{len(report.attempts):,} records: {counts['applied']:,} applied, "
        f"{counts['published']:,} published, {counts['duplicate']:,} duplicates, "
        f"{counts['invalid']:,} still invalid" + ("" if report.dry_run else "; each marked replayed"),
        highlight=False,
    )


def _report_json(report: ReplayReport, where: str) -> dict[str, Any]:
    return {
        "dry_run": report.dry_run,
        "target": where,
        "counts": report.counts(),
        "records": [
            {
                "deadletter_id": a.record.id,
                "was": a.record.reason,
                "fixed": a.fixed,
                "outcome": a.mark,
                "event_id": a.event_id,
                "reason": a.reason,
                "detail": a.detail,
                "stored_as_new_dead_letter": a.stored_as_new,
            }
            for a in report.attempts
        ],
    }


_EXPORT_HELP = (
    "Write the selected records, oldest first, as NDJSON to fix and replay with `replay --input FILE`."
    '\n\nEach line: {"deadletter_id", "reason", "detail", "source", "line", "received_at"} and the record '
    'as "event" (a JSON object: edit its fields) or, when it is not a JSON object, "raw" (its text: fix '
    'it, or replace "raw" by an "event" object). Lines you delete are not replayed.'
)
_INSPECT_HELP = (
    "List the most recent rejected records (id, reason, source, line; the replay mark once replayed) and "
    "the counts by reason.\n\nSubcommands: `export` writes records as NDJSON to fix; `replay` validates "
    "them again and sends the events that now pass to the stream or PYMK_HOME."
)


def register(app: typer.Typer) -> None:
    """Add the ``deadletter`` group (inspect, ``export``, ``replay``) to ``app``."""
    group = typer.Typer(no_args_is_help=False, add_completion=False, pretty_exceptions_enable=False)
    group.callback(invoke_without_command=True, help=_INSPECT_HELP)(inspect)
    group.command(
        "export", help=_EXPORT_HELP, short_help="Write records as NDJSON, to fix and replay with --input."
    )(export)
    group.command(
        "replay", help=_REPLAY_HELP, short_help="Validate records again; apply or publish what now passes."
    )(replay)
    app.add_typer(group, name="deadletter")
