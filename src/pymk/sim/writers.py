"""Writing a :class:`~pymk.sim.result.SimResult` to JSONL (optionally gzipped) or Parquet, in chunks.

JSON lines are assembled column-wise by Arrow string kernels (every value the simulator emits is already
JSON-safe: ids are ``u<digits>``, props come from a fixed vocabulary), never one Python dict per event.
Chunk ``i`` is compressed and written on a second thread while chunk ``i + 1`` is being built (zlib,
Parquet and Arrow all release the GIL). Output is byte-identical for identical results: chunks are
written in order and gzip headers carry no time stamp or file name.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable, Sized
from concurrent.futures import Future, ThreadPoolExecutor
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pymk.errors import InvalidInput
from pymk.sim.result import SCHEMA, SimResult

#: Called after each chunk with the number of rows written so far.
RowsCallback = Callable[[int], None]
CHUNK_ROWS = 1_000_000
T = TypeVar("T", bound=Sized)


class OutputFormat(StrEnum):
    """Files ``pymk simulate`` writes."""

    JSONL = "jsonl"
    PARQUET = "parquet"


def format_for(path: Path) -> OutputFormat:
    """The format a file name implies: ``.parquet`` → Parquet, ``.jsonl``/``.json``(``.gz``) → JSONL."""
    name = path.name.lower()
    if name.endswith(".parquet"):
        return OutputFormat.PARQUET
    if name.endswith((".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".json", ".json.gz")):
        return OutputFormat.JSONL
    raise InvalidInput(f"cannot tell the output format from {path.name!r}: use --format jsonl|parquet")


def json_lines(table: pa.Table) -> pa.Array:
    """One DESIGN §2 JSON object per row of ``table`` (schema :data:`SCHEMA`), each ending in a newline."""
    target = pc.coalesce(pc.binary_join_element_wise('"', table["target"], '"', ""), "null")
    props = pc.coalesce(table["props"], "{}")
    parts = [
        '{"event_id":"',
        table["event_id"],
        '","ts":',
        pc.cast(table["ts"], pa.string()),
        ',"type":"',
        table["type"],
        '","actor":"',
        table["actor"],
        '","target":',
        target,
        ',"props":',
        props,
        "}\n",
    ]
    lines = pc.binary_join_element_wise(*parts, "")
    return lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines


def _pipelined(chunks: Iterable[T], consume: Callable[[T], None], on_rows: RowsCallback | None) -> None:
    """``consume`` each chunk in order on one worker thread while the next chunk is produced."""
    done = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pymk-sim-writer") as pool:
        pending: Future[None] | None = None
        for chunk in chunks:
            if pending is not None:
                pending.result()
                if on_rows is not None:
                    on_rows(done)
            pending = pool.submit(consume, chunk)
            done += len(chunk)
        if pending is not None:
            pending.result()
            if on_rows is not None:
                on_rows(done)


def _write_lines(out: BinaryIO | gzip.GzipFile, lines: pa.Array) -> None:
    """Write the characters of a null-free string array back to back."""
    if len(lines) == 0:
        return
    _, offsets_buf, data = lines.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int32, count=len(lines) + 1, offset=lines.offset * 4)
    out.write(memoryview(data)[int(offsets[0]) : int(offsets[-1])])


def write_jsonl(
    result: SimResult,
    path: Path,
    *,
    chunk_rows: int = CHUNK_ROWS,
    compresslevel: int = 3,
    on_rows: RowsCallback | None = None,
) -> int:
    """Write ``result`` as JSON lines (gzipped when ``path`` ends in ``.gz``); returns rows written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw:
        out: BinaryIO | gzip.GzipFile = raw
        if path.name.lower().endswith(".gz"):
            out = gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=compresslevel, mtime=0)
        try:
            lines = (json_lines(table) for table in result.iter_tables(chunk_rows))
            _pipelined(lines, lambda chunk: _write_lines(out, chunk), on_rows)
        finally:
            if out is not raw:
                out.close()
    return len(result)


def write_parquet(
    result: SimResult, path: Path, *, chunk_rows: int = CHUNK_ROWS, on_rows: RowsCallback | None = None
) -> int:
    """Write ``result`` as Parquet (schema :data:`~pymk.sim.result.SCHEMA`, zstd); returns rows written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(path, SCHEMA, compression="zstd") as writer:
        _pipelined(
            result.iter_tables(chunk_rows),
            lambda table: writer.write_table(table, row_group_size=chunk_rows),
            on_rows,
        )
    return len(result)


def write_events(
    result: SimResult,
    path: Path,
    fmt: OutputFormat | None = None,
    *,
    on_rows: RowsCallback | None = None,
) -> int:
    """Write ``result`` to ``path`` in ``fmt`` (default: from the file name); returns rows written."""
    fmt = format_for(path) if fmt is None else fmt
    if fmt is OutputFormat.PARQUET:
        return write_parquet(result, path, on_rows=on_rows)
    return write_jsonl(result, path, on_rows=on_rows)
