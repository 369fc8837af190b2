"""``pymk import``: load one file of a DESIGN §3 format into ``PYMK_HOME``, idempotently.

Pipeline, batch by batch: parse (:func:`~pymk.io.readers.iter_batches`) → event ids (given by
events-jsonl; content-based for the edge-list formats, see :mod:`pymk.io.rowids`) → dedupe
(:class:`~pymk.events.dedupe.SeenEvents`) → internal ids (:class:`~pymk.events.ids.IdMap`,
``PYMK_HOME/ids.arrow``) → offline event log (staged Parquet, :mod:`pymk.io.eventlog`) → graph
operations (queued, :mod:`pymk.io.graph_apply`). Rejected lines (malformed ones under
``on_error="skip"``, and self-loops always) are queued for the dead-letter store, deduplicated like
events so a re-import does not store them twice. Memory: one batch of 64k lines, plus about 250 bytes
per row of the file (ids to mark at commit and to number repeated rows, queued graph operations, log
rows buffered until a flush), plus the id map. The cyclic GC is paused during an import.

**Nothing is half-applied**: all state is written at the end, in one commit step — id map, event log
(staged parts moved into place), graph (``PYMK_HOME/graph/``, written atomically), dead letters, and
last the seen event ids. A malformed line under ``on_error="stop"`` (or any other error) before the
commit leaves ``PYMK_HOME`` and the stores exactly as they were. A crash *inside* the commit step can
leave some of it written without the ids marked seen; importing the file again then re-applies those
events (at least once, never lost; the log keeps ``event_id`` so readers can drop repeats).
One import per ``PYMK_HOME`` at a time (a lock file; a second one fails with :class:`HomeBusy`).
"""

from __future__ import annotations

import errno
import fcntl
import gc
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TypeVar

from pymk import stores  # the composition root: which backend each URL names
from pymk.config import Settings
from pymk.errors import ConfigError, InvalidInput, PymkError
from pymk.events.deadletter import DeadLetterStore
from pymk.events.dedupe import SeenEvents
from pymk.events.ids import IdMap
from pymk.events.validation import Limits
from pymk.io.batch_apply import BatchApplier
from pymk.io.eventlog import EventLogWriter, clear_staging
from pymk.io.formats import Format
from pymk.io.graph_apply import GraphUpdate, graph_dir, load_graph
from pymk.io.readers import iter_batches

OnErrorPolicy = Literal["stop", "skip"]
#: Called after each batch with (bytes of the file read so far, data lines read so far).
Progress = Callable[[int, int], None]
T = TypeVar("T")
STAGES = ("parse", "dedupe", "id_map", "log_write", "graph_apply", "dead_letter")


class HomeBusy(PymkError):
    """Another import is writing to the same ``PYMK_HOME``."""

    http_status = 409
    grpc_code = "ABORTED"
    exit_code = 3


@dataclass
class ImportReport:
    """What one import did. ``rows_read == applied + duplicates + sum(rejected.values())``.

    ``rows_read`` counts data lines (not comments, blank lines or headers); ``rejected`` counts rejected
    lines by reason code, every time; ``dead_lettered`` how many of them were new to the dead-letter
    store (0 when re-importing). ``users``/``connections`` are totals after the import; ``stages`` the
    seconds spent in each of :data:`STAGES`.
    """

    source: str
    format: str
    rows_read: int = 0
    applied: int = 0
    duplicates: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    dead_lettered: int = 0
    users: int = 0
    new_users: int = 0
    connections: int = 0
    new_connections: int = 0
    log_files: int = 0
    seconds: float = 0.0
    stages: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

    @property
    def rows_per_second(self) -> float:
        """Data lines read per wall-clock second of the whole import."""
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form, with ``rows_per_second`` added."""
        return {**asdict(self), "rows_per_second": self.rows_per_second}


class _Clock:
    """Accumulates wall-clock seconds per stage."""

    def __init__(self, stages: dict[str, float]) -> None:
        self.stages = stages

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stages[stage] += time.perf_counter() - start

    def timed(self, stage: str, items: Iterator[T]) -> Iterator[T]:
        """``items``, with the time spent producing each one added to ``stage``."""
        while True:
            with self(stage):
                try:
                    item = next(items)
                except StopIteration:
                    return
            yield item


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector (an import creates no reference cycles, but allocates
    millions of objects, and the collections they trigger cost ~10-15% of the import's time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def _import_lock(home: Path) -> Iterator[None]:
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".import.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise HomeBusy(f"another import is running in {home}") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def import_file(
    path: Path | str,
    fmt: Format | str,
    settings: Settings,
    on_error: OnErrorPolicy = "stop",
    *,
    deadletters: DeadLetterStore | None = None,
    seen: SeenEvents | None = None,
    progress: Progress | None = None,
    batch_lines: int = 65_536,
) -> ImportReport:
    """Import ``path`` (plain or gzip) of format ``fmt`` into ``settings.home``; see the module doc.

    Stores not given are built from ``settings`` (``deadletter_url``, ``dedupe_url``) and closed at
    the end. Raises :class:`~pymk.errors.InvalidRecord` (with file and line) on the first malformed line
    when ``on_error="stop"``, ``FileNotFoundError`` for a missing file, :class:`HomeBusy` when another
    import holds the home, :class:`~pymk.errors.ConfigError` for an unknown format.
    """
    path = Path(path)
    if on_error not in ("stop", "skip"):
        raise ConfigError(f"on_error must be 'stop' or 'skip', got {on_error!r}")
    try:
        fmt = Format(fmt)
    except ValueError:
        raise ConfigError(
            f"unknown format {fmt!r}; use one of {', '.join(f.value for f in Format)}"
        ) from None
    if path.is_dir():
        raise InvalidInput(f"{path} is a directory; import one file at a time")
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, "no such file", str(path))
    owned: list[DeadLetterStore | SeenEvents] = []
    try:
        if deadletters is None:
            deadletters = stores.deadletter_store(settings)
            owned.append(deadletters)
        if seen is None:
            seen = stores.seen_events_store(settings)
            owned.append(seen)
        with _import_lock(settings.home), _gc_paused():
            return _run(path, fmt, settings, on_error, deadletters, seen, progress, batch_lines)
    finally:
        for store in owned:
            store.close()


def _run(
    path: Path,
    fmt: Format,
    settings: Settings,
    on_error: OnErrorPolicy,
    deadletters: DeadLetterStore,
    seen: SeenEvents,
    progress: Progress | None,
    batch_lines: int,
) -> ImportReport:
    started = time.perf_counter()
    home = settings.home
    report = ImportReport(source=str(path), format=fmt.value)
    clock = _Clock(report.stages)
    rejected: Counter[str] = Counter()
    clear_staging(home)
    with clock("id_map"):
        idmap = IdMap.load(home / "ids.arrow")
    users_before = len(idmap)
    import_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]
    writer = EventLogWriter(home, import_id)
    update = GraphUpdate()
    applier = BatchApplier(fmt, str(path.absolute()), seen, idmap, writer, update, clock)
    limits = Limits(settings.max_id_length, settings.max_props_bytes)
    reader = iter_batches(
        path, fmt, on_error="raise" if on_error == "stop" else "skip", batch_lines=batch_lines, limits=limits
    )
    try:
        for batch in clock.timed("parse", reader):
            applier.add(batch)
            rejected.update(r.reason for r in batch.rejected)
            if progress is not None:
                progress(batch.bytes_read, applier.rows_read)
        # -- commit: everything below writes state --------------------------------------------------
        with clock("id_map"):
            idmap.save(home / "ids.arrow")
        with clock("log_write"):
            report.log_files = writer.commit()
        with clock("graph_apply"):
            graph = load_graph(home)
            edges_before, nodes_before = graph.n_edges, graph.n_nodes
            graph = update.apply(graph, len(idmap))
            if update.size or graph.n_nodes != nodes_before or not graph_dir(home).exists():
                graph.save(graph_dir(home))
        with clock("dead_letter"):
            deadletters.put(applier.letters)
        with clock("dedupe"):
            seen.mark_seen(applier.to_mark)
    finally:
        writer.abort()
    report.rows_read = applier.rows_read
    report.applied = applier.applied
    report.duplicates = applier.duplicates
    report.rejected = dict(rejected.most_common())
    report.dead_lettered = len(applier.letters)
    report.users, report.new_users = len(idmap), len(idmap) - users_before
    report.connections, report.new_connections = graph.n_edges, graph.n_edges - edges_before
    report.seconds = time.perf_counter() - started
    return report
