"""``pymk worker``: consume the configured event stream into ``PYMK_HOME`` and the online store."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated
from urllib.parse import parse_qs, urlsplit

import typer

from pymk.cli.common import ConfigOption, HomeOption, console, settings_from, user_errors

if TYPE_CHECKING:
    from pymk.config import Settings
    from pymk.stream.worker import BatchHook, BatchReport, WorkerReport

_HELP = """Consume the event stream (--events-url / PYMK_EVENTS_URL) in batches: validate each record (bad
ones go to the dead-letter store with their reason and stream position), drop repeated event ids, apply
the rest to the online store (PYMK_ONLINE_URL), the Parquet event log and the graph under PYMK_HOME, then
acknowledge them. Killed at any moment and restarted, it ends as if it had run once.

Examples: pymk worker --events-url 'redis://127.0.0.1:6379/0?stream=pymk:events' --idle-exit 5
          pymk worker --events-url file:stream/events.jsonl --max-events 100000
"""

log = logging.getLogger("pymk.worker")

#: Query parameters that name a consumer, not the stream (left out of the stream's name).
_CONSUMER_PARAMS = {"consumer", "claim_idle", "claim_every", "state", "follow", "partitions"}


def stream_name(url: str) -> tuple[str, str]:
    """A stable name of the stream ``url`` reads (for dead letters and seen ids; without credentials
    or consumer settings) and its consumer group."""
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    group = query.pop("group", "pymk")
    kept = "&".join(
        f"{k}={v}" for k, v in sorted(query.items()) if k not in _CONSUMER_PARAMS and "." not in k
    )
    base = url.split("?", 1)[0]
    if "@" in parts.netloc:
        base = base.replace(parts.netloc, parts.netloc.rsplit("@", 1)[1], 1)
    return (f"{base}?{kept}" if kept else base), group


def worker_command(
    events_url: Annotated[
        str | None,
        typer.Option("--events-url", envvar="PYMK_EVENTS_URL", help="Stream to consume (default: settings)."),
    ] = None,
    online_url: Annotated[
        str | None,
        typer.Option("--online-url", envvar="PYMK_ONLINE_URL", help="Online store (default: settings)."),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", help="Records per batch (default: settings).", min=1)
    ] = None,
    max_events: Annotated[
        int | None, typer.Option("--max-events", help="Stop after consuming this many records.", min=1)
    ] = None,
    idle_exit: Annotated[
        float | None,
        typer.Option("--idle-exit", help="Stop once no record arrived for this many seconds.", min=0),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            help="Serve Prometheus /metrics on this port (default: PYMK_WORKER_METRICS_PORT; unset: none).",
            min=0,
            max=65535,
        ),
    ] = None,
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    """Consume the event stream into PYMK_HOME and the online store."""
    with user_errors():
        settings = settings_from(home, config)
        overrides = {
            "events_url": events_url,
            "online_url": online_url,
            "worker_batch_size": batch_size,
            "worker_metrics_port": metrics_port,
        }
        settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
        report = run_worker(settings, max_events=max_events, idle_exit=idle_exit)
    console.print(
        f"[bold green]worker done[/] {report.records:,} records in {report.seconds:.1f} s "
        f"({report.events_per_second:,.0f}/s): {report.applied:,} applied, {report.duplicates:,} duplicates, "
        f"{report.rejected:,} dead-lettered; lag {report.lag if report.lag is not None else '?'}"
        + _freshness(report),
        highlight=False,
        soft_wrap=True,
    )


def _freshness(report: WorkerReport) -> str:
    p50, p99 = report.freshness(0.5), report.freshness(0.99)
    return "" if p50 is None or p99 is None else f", freshness p50 {p50:.3f} s, p99 {p99:.3f} s (per batch)"


class _BatchLog:
    """One progress log line per second at most: records/s, applied, rejected, lag, freshness."""

    def __init__(self) -> None:
        self.at = time.monotonic()
        self.records = self.applied = self.rejected = 0

    def __call__(self, batch: BatchReport) -> None:
        self.records += batch.records
        self.applied += batch.applied
        self.rejected += batch.rejected
        now = time.monotonic()
        if now - self.at < 1.0 and not batch.redo:
            return
        rate = self.records / max(now - self.at, 1e-9)
        fresh = f"{batch.freshness_s:.3f} s" if batch.freshness_s is not None else "-"
        log.info(
            f"worker: {rate:,.0f} records/s, {self.applied:,} applied, {self.rejected:,} dead-lettered, "
            f"lag {batch.lag if batch.lag is not None else '?'}, freshness {fresh}"
            + (" (finished a batch a killed worker had started)" if batch.redo else ""),
            extra={
                "records": self.records,
                "applied": self.applied,
                "rejected": self.rejected,
                "lag": batch.lag,
                "freshness_s": batch.freshness_s,
            },
        )
        self.at, self.records, self.applied, self.rejected = now, 0, 0, 0


def run_worker(
    settings: Settings,
    *,
    max_events: int | None = None,
    idle_exit: float | None = None,
    hooks: Sequence[BatchHook] = (),
) -> WorkerReport:
    """Open the source and stores ``settings`` name, hold the home's lock and run the worker, with the
    per-second log line (JSON, at ``log_level``), the metrics hook (with ``worker_metrics_port``, served on
    that port) and then ``hooks`` called after each batch (see :mod:`pymk.stream.worker`, e.g. a list
    refresh for ``report.touched``); SIGTERM and SIGINT stop it after the current batch."""
    from pymk import stores
    from pymk.events.validation import Limits
    from pymk.monitoring.logs import configure_logging
    from pymk.monitoring.worker import WorkerMetrics
    from pymk.online import open_online
    from pymk.stream import open_source
    from pymk.stream.worker import Worker, home_lock, stall_from_env

    configure_logging(settings.log_level)
    url = settings.resolve(settings.events_url)
    name, group = stream_name(url)
    metrics = WorkerMetrics()
    if settings.worker_metrics_port is not None:
        port = metrics.serve(settings.worker_metrics_port)
        log.info(f"worker metrics on :{port}/metrics")
    stop = {"now": False}

    def on_signal(signum: int, _frame: object) -> None:
        stop["now"] = True

    main = threading.current_thread() is threading.main_thread()  # only it may set signal handlers
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)} if main else {}
    with home_lock(settings.home):
        seen = stores.seen_events_store(settings)
        letters = stores.deadletter_store(settings)
        online = open_online(settings.online_url)
        source = open_source(url)
        try:
            worker = Worker(
                source,
                settings.home,
                seen=seen,
                deadletters=letters,
                online=online,
                source_name=name,
                group=group,
                batch_size=settings.worker_batch_size,
                poll_s=settings.worker_poll_s,
                limits=Limits(settings.max_id_length, settings.max_props_bytes),
                hooks=[_BatchLog(), metrics, *hooks],
                stall=stall_from_env(),
            )
            return worker.run(max_events=max_events, idle_exit=idle_exit, should_stop=lambda: stop["now"])
        finally:
            source.close()
            online.close()
            letters.close()
            seen.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def register(app: typer.Typer) -> None:
    """Add ``pymk worker`` to ``app``."""
    app.command("worker", help=_HELP)(worker_command)
