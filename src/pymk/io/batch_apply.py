"""One import's work on each parsed batch: ids, dedupe, id mapping, log rows, graph operations.

Used by :mod:`pymk.io.importer`; nothing here writes state — it fills the staged event log, the queued
graph update, and the lists of dead letters and ids to mark that the importer commits at the end.
Columns travel as Arrow arrays and NumPy vectors; Python loops are left for what has no bulk form.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from itertools import compress
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa

from pymk.events.deadletter import DeadLetter
from pymk.events.dedupe import SeenEvents
from pymk.events.ids import IdMap
from pymk.io.eventlog import LOG_SCHEMA, EventLogWriter
from pymk.io.formats import ROW_TYPE, Format
from pymk.io.graph_apply import OP_OF, GraphUpdate, Op
from pymk.io.readers import RowBatch
from pymk.io.rowids import RowIds

Clock = Callable[[str], AbstractContextManager[None]]
T = TypeVar("T")
Int32Array = npt.NDArray[np.int32]


def _pick(values: Sequence[T], keep: npt.NDArray[np.bool_] | None) -> list[T]:
    return list(values) if keep is None else list(compress(values, keep.tolist()))


def _props_json(props: Sequence[dict[str, Any]]) -> list[str]:
    return ["{}" if not p else orjson.dumps(p).decode() for p in props]


class BatchApplier:
    """Turns batches into staged state for one import of ``source`` (file order, one call per batch).

    After the last batch: ``letters`` (new dead letters), ``to_mark`` (ids to mark seen at commit) and
    the counters ``rows_read``, ``applied``, ``duplicates``.
    """

    def __init__(
        self,
        fmt: Format,
        source: str,
        seen: SeenEvents,
        idmap: IdMap,
        writer: EventLogWriter,
        update: GraphUpdate,
        clock: Clock,
    ) -> None:
        self.fmt, self.source, self.seen, self.idmap = fmt, source, seen, idmap
        self.writer, self.update, self.clock = writer, update, clock
        self.row_ids = RowIds()
        self.pending: set[str] = set()  # events-jsonl ids accepted by this import (may repeat)
        self.letters: list[DeadLetter] = []
        self.to_mark: list[str] = []
        self.rows_read = self.applied = self.duplicates = 0

    def add(self, batch: RowBatch) -> None:
        """Dedupe ``batch`` and stage its new rows and new rejected lines."""
        n = len(batch)
        self.rows_read += n + len(batch.rejected)
        actor = pa.array(batch.actor, pa.string())
        target = pa.array(batch.target, pa.string())
        ts = np.asarray(batch.ts, dtype=np.float64)
        with self.clock("dedupe"):
            ids, keep, keep_rejected = self._new(batch, actor, target, ts)
        kept = int(keep.sum())
        self.applied += kept
        self.duplicates += n - kept
        now = time.time()
        for r in compress(batch.rejected, keep_rejected):
            self.letters.append(DeadLetter(r.raw, r.reason, r.detail, self.source, r.line, now))
        if kept:
            self._stage(batch, ids, None if kept == n else keep, actor, target, ts)

    def _new(
        self, batch: RowBatch, actor: pa.Array, target: pa.Array, ts: npt.NDArray[np.float64]
    ) -> tuple[list[str], npt.NDArray[np.bool_], list[bool]]:
        """Event ids of the rows, and which rows and which rejected lines are new."""
        n = len(batch)
        jsonl = self.fmt is Format.EVENTS_JSONL
        if jsonl:
            ids = [i or "" for i in batch.event_id]
        else:
            ids = self.row_ids.rows(ROW_TYPE[self.fmt].value, actor, target, ts)
        every = ids + self.row_ids.rejected([r.raw for r in batch.rejected])
        flags = self.seen.filter_new(every)
        if jsonl and self.pending:
            pending = self.pending
            flags = [f and i not in pending for f, i in zip(flags, every, strict=True)]
        new_ids = list(compress(every, flags))
        if jsonl:
            self.pending.update(new_ids)
        self.to_mark.extend(new_ids)
        return ids, np.array(flags[:n], dtype=bool), flags[n:]

    def _stage(
        self,
        batch: RowBatch,
        ids: list[str],
        keep: npt.NDArray[np.bool_] | None,
        actor: pa.Array,
        target: pa.Array,
        ts: npt.NDArray[np.float64],
    ) -> None:
        """Stage the rows ``keep`` selects (all when None)."""
        if keep is not None:
            mask = pa.array(keep)
            actor, target, ts = actor.filter(mask), target.filter(mask), ts[keep]
        k = len(actor)
        with self.clock("id_map"):
            actor_idx, target_idx = self._encode(actor, target)
        with self.clock("log_write"):
            if self.fmt is Format.EVENTS_JSONL:
                types = _pick(batch.type, keep)
                type_column = pa.array([t.value for t in types], pa.string())
                props = pa.array(_props_json(_pick(batch.props, keep)), pa.string())
                ops = np.array([OP_OF[t] for t in types], dtype=np.int8)
            else:
                type_column = pa.repeat(ROW_TYPE[self.fmt].value, k)
                has_props = self.fmt is Format.BITCOIN_CSV
                props = (
                    pa.array(_props_json(_pick(batch.props, keep)), pa.string())
                    if has_props
                    else pa.repeat("{}", k)
                )
                ops = np.full(k, Op.INTERACT, dtype=np.int8)
            nan = np.isnan(ts)
            columns = [
                pa.array(_pick(ids, keep), pa.string()),
                pa.array(ts, pa.float64(), mask=nan if nan.any() else None),
                type_column,
                actor,
                target,
                pa.array(actor_idx, pa.int32()),
                pa.array(target_idx, pa.int32(), mask=target_idx < 0),
                props,
            ]
            self.writer.append(pa.table(columns, schema=LOG_SCHEMA))
        with self.clock("graph_apply"):
            self.update.add(ops, actor_idx, target_idx, ts)

    def _encode(self, actor: pa.Array, target: pa.Array) -> tuple[Int32Array, Int32Array]:
        """Internal ids of each row's actor and target (-1 where no target), assigned in file order.

        Arrow's dictionary encoding hands the id map each distinct user once, in order of first
        appearance in the interleaved sequence actor, target, actor, ... — so ids are assigned as if
        the map saw every row, at a fraction of the cost.
        """
        k = len(actor)
        order = np.empty(2 * k, dtype=np.int64)
        order[0::2] = np.arange(k)
        order[1::2] = np.arange(k, 2 * k)
        users = pa.concat_arrays([actor, target]).take(pa.array(order))
        valid = users.is_valid().to_numpy(zero_copy_only=False)
        encoded = users.drop_null().dictionary_encode()
        internal = self.idmap.encode(encoded.dictionary.to_pylist())
        codes = np.full(2 * k, -1, dtype=np.int32)
        codes[valid] = internal[encoded.indices.to_numpy()]
        return codes[0::2], codes[1::2]
