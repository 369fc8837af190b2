"""The offline event log: every accepted event, as Parquet under ``PYMK_HOME/events/``.

Layout (hive-partitioned by UTC day of ``ts``)::

    events/date=2010-07-28/part-<import id>-<n>.parquet
    events/date=__HIVE_DEFAULT_PARTITION__/part-...parquet     (events without a time: static data)

Columns (:data:`LOG_SCHEMA`): ``event_id`` string, ``ts`` float64 UNIX seconds UTC (null for static
data), ``type`` string (an :class:`~pymk.events.schema.EventType` value), ``actor``/``target`` external
string ids (``target`` null for unary events), ``actor_idx``/``target_idx`` internal int32 ids of the
:class:`~pymk.events.ids.IdMap` at the time of import, ``props`` JSON object text. The ``date`` partition
column is derived from ``ts``. The log is append-only; row order is not meaningful (sort by ``ts``).

Writes are staged: an :class:`EventLogWriter` writes hidden ``.part-*.tmp`` files (readers skip them)
and :meth:`EventLogWriter.commit` renames them into place, so an aborted import leaves nothing visible
behind. DuckDB reads the log directly::

    SELECT * FROM read_parquet('<home>/events/*/*.parquet', hive_partitioning = true)
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

LOG_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("ts", pa.float64()),
        ("type", pa.string()),
        ("actor", pa.string()),
        ("target", pa.string()),
        ("actor_idx", pa.int32()),
        ("target_idx", pa.int32()),
        ("props", pa.string()),
    ]
)
_PARTITIONING = ds.partitioning(pa.schema([("date", pa.string())]), flavor="hive")
_TMP_PREFIX = ".part-"
_TMP_SUFFIX = ".tmp"


def log_dir(home: Path) -> Path:
    """Root directory of the event log of ``home``."""
    return home / "events"


def event_log_glob(home: Path) -> str:
    """A ``read_parquet`` glob matching every committed part (for DuckDB, with hive_partitioning)."""
    return str(log_dir(home) / "date=*" / "*.parquet")


_NO_DAY = np.iinfo(np.int64).max  # sorts after every real day


def _day_numbers(ts: pa.ChunkedArray) -> npt.NDArray[np.int64]:
    """UTC day number (days since 1970-01-01) of each ``ts``; ``_NO_DAY`` where there is no time."""
    seconds = pc.fill_null(ts, np.nan).to_numpy()
    valid = np.isfinite(seconds)
    days = np.full(seconds.shape, _NO_DAY, dtype=np.int64)
    days[valid] = np.floor(seconds[valid] / 86_400.0).astype(np.int64)
    return days


def _partition(day: int) -> str:
    if day == _NO_DAY:
        return "date=__HIVE_DEFAULT_PARTITION__"
    return f"date={np.datetime64(day, 'D')}"


def _write_part(job: tuple[pa.Table, Path]) -> None:
    table, path = job
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


class EventLogWriter:
    """Writes the events of one import; nothing is visible to readers before :meth:`commit`.

    ``append`` buffers tables and flushes them once ``flush_rows`` rows are buffered, one file per day
    per flush (so memory stays bounded and a long import makes few files per day). Flushed files sit
    in their final day directory under a hidden temporary name (``.part-....parquet.tmp``, which
    readers skip); ``commit`` renames them, ``abort`` deletes them. Renaming in place avoids staging
    directories: creating and removing thousands of them costs seconds on some file systems.
    Single writer per home (the importer holds a lock).
    """

    def __init__(self, home: Path, import_id: str, flush_rows: int = 1_000_000) -> None:
        self._root = log_dir(home)
        self._import_id = import_id
        self._flush_rows = flush_rows
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._flushes = 0
        self._written: list[str] = []
        self.rows = 0

    def append(self, table: pa.Table) -> None:
        """Add events (a table with :data:`LOG_SCHEMA`'s columns, in that order)."""
        if table.num_rows == 0:
            return
        self._buffer.append(table.cast(LOG_SCHEMA))
        self._buffered += table.num_rows
        self.rows += table.num_rows
        if self._buffered >= self._flush_rows:
            self._flush()

    def _flush(self) -> None:
        if not self._buffered:
            return
        table = pa.concat_tables(self._buffer)
        self._buffer, self._buffered = [], 0
        # A stable sort by day keeps each day's events in arrival order; one file per day.
        day = _day_numbers(table.column("ts"))
        order = np.argsort(day, kind="stable")
        table, day = table.take(pa.array(order)), day[order]
        starts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
        stops = np.r_[starts[1:], day.size]
        name = f"{_TMP_PREFIX}{self._import_id}-{self._flushes}.parquet{_TMP_SUFFIX}"
        jobs = [
            (table.slice(start, stop - start), self._root / _partition(int(day[start])) / name)
            for start, stop in zip(starts.tolist(), stops.tolist(), strict=True)
        ]
        self._written.extend(str(path) for _, path in jobs)
        self._flushes += 1
        # Per-file cost (directory entry, Parquet footer) dominates with many small days; threads
        # overlap it (pyarrow releases the GIL while encoding and writing).
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1) * 2) as pool:
            for _ in pool.map(_write_part, jobs):
                pass

    def commit(self) -> int:
        """Flush, then make every written part visible; returns the number of files."""
        self._flush()
        for path in self._written:
            head, name = os.path.split(path)
            os.replace(path, os.path.join(head, name[1 : -len(_TMP_SUFFIX)]))
        moved, self._written = len(self._written), []
        return moved

    def abort(self) -> None:
        """Drop everything buffered or written and not committed by this writer."""
        self._buffer, self._buffered = [], 0
        for path in self._written:
            Path(path).unlink(missing_ok=True)
        self._written = []


def clear_staging(home: Path) -> None:
    """Delete parts that crashed imports wrote but never committed (call while holding the import lock)."""
    for leftover in log_dir(home).glob(f"date=*/{_TMP_PREFIX}*{_TMP_SUFFIX}"):
        leftover.unlink(missing_ok=True)


def read_event_log(home: Path, columns: list[str] | None = None) -> pa.Table:
    """Every committed event of ``home`` (``columns`` of :data:`LOG_SCHEMA`, default all), in no
    particular order; an empty table when nothing was imported."""
    root = log_dir(home)
    if not root.exists():
        table = LOG_SCHEMA.empty_table()
        return table.select(columns) if columns is not None else table
    dataset = ds.dataset(root, format="parquet", schema=LOG_SCHEMA, partitioning=_PARTITIONING)
    return dataset.to_table(columns=columns or LOG_SCHEMA.names)
