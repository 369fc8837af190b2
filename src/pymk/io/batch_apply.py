"""One import's work on each parsed batch: ids, dedupe, id mapping, log rows, graph operations.

Used by :mod:`pymk.io.importer`; nothing here writes state — it fills the staged event log, the queued
graph update, and the lists of dead letters and ids to mark that the importer commits at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from itertools import chain, compress
from typing import Any, TypeVar, cast

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


def _pick(values: Sequence[T], keep: list[bool], all_kept: bool) -> list[T]:
    return list(values) if all_kept else list(compress(values, keep))


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
        with self.clock("dedupe"):
            ids, keep, keep_rejected = self._new(batch)
        kept = sum(keep)
        self.applied += kept
        self.duplicates += n - kept
        now = time.time()
        for r in compress(batch.rejected, keep_rejected):
            self.letters.append(DeadLetter(r.raw, r.reason, r.detail, self.source, r.line, now))
        if kept:
            self._stage(batch, ids, keep, kept == n)

    def _new(self, batch: RowBatch) -> tuple[list[str], list[bool], list[bool]]:
        """Event ids of the rows, and which rows and which rejected lines are new."""
        n = len(batch)
        if self.fmt is Format.EVENTS_JSONL:
            ids = [i or "" for i in batch.event_id]
        else:
            targets = [t or "" for t in batch.target]  # never None in the edge-list formats
            ids = self.row_ids.rows(ROW_TYPE[self.fmt].value, batch.actor, targets, batch.ts)
        rejected_ids = self.row_ids.rejected([r.raw for r in batch.rejected])
        every = ids + rejected_ids
        flags = self.seen.filter_new(every)
        if self.fmt is Format.EVENTS_JSONL and self.pending:
            pending = self.pending
            flags = [f and i not in pending for f, i in zip(flags, every, strict=True)]
        new_ids = list(compress(every, flags))
        if self.fmt is Format.EVENTS_JSONL:
            self.pending.update(new_ids)
        self.to_mark.extend(new_ids)
        return ids, flags[:n], flags[n:]

    def _stage(self, batch: RowBatch, ids: list[str], keep: list[bool], all_kept: bool) -> None:
        fmt = self.fmt
        actor = _pick(batch.actor, keep, all_kept)
        target = _pick(batch.target, keep, all_kept)
        ts = np.asarray(_pick(batch.ts, keep, all_kept), dtype=np.float64)
        with self.clock("id_map"):
            actor_idx, target_idx = self._encode(actor, target)
        with self.clock("log_write"):
            if fmt is Format.EVENTS_JSONL:
                types = [t.value for t in compress(batch.type, keep)]
                props = _props_json(_pick(batch.props, keep, all_kept))
                ops = np.array([OP_OF[t] for t in compress(batch.type, keep)], dtype=np.int8)
            else:
                types = [ROW_TYPE[fmt].value] * len(actor)
                has_props = fmt is Format.BITCOIN_CSV
                props = _props_json(_pick(batch.props, keep, all_kept)) if has_props else ["{}"] * len(actor)
                ops = np.full(len(actor), Op.INTERACT, dtype=np.int8)
            nan = np.isnan(ts)
            table = pa.table(
                [
                    pa.array(_pick(ids, keep, all_kept), pa.string()),
                    pa.array(ts, pa.float64(), mask=nan if nan.any() else None),
                    pa.array(types, pa.string()),
                    pa.array(actor, pa.string()),
                    pa.array(target, pa.string()),
                    pa.array(actor_idx, pa.int32()),
                    pa.array(target_idx, pa.int32(), mask=target_idx < 0),
                    pa.array(props, pa.string()),
                ],
                schema=LOG_SCHEMA,
            )
            self.writer.append(table)
        with self.clock("graph_apply"):
            self.update.add(ops, actor_idx, target_idx, ts)

    def _encode(
        self, actor: list[str], target: list[str | None]
    ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
        """Internal ids of each row's actor and target (-1 where no target), assigned in file order."""
        if self.fmt is not Format.EVENTS_JSONL:
            pairs = chain.from_iterable(zip(actor, target, strict=True))
            codes = self.idmap.encode(cast(Iterator[str], pairs))  # targets are never None here
            return codes[0::2], codes[1::2]
        has_target = np.array([t is not None for t in target], dtype=bool)
        flat = [x for a, t in zip(actor, target, strict=True) for x in ((a,) if t is None else (a, t))]
        codes = self.idmap.encode(flat)
        starts = np.cumsum(1 + has_target) - (1 + has_target)
        actor_idx = codes[starts]
        target_idx = np.where(has_target, codes[np.minimum(starts + 1, len(codes) - 1)], -1).astype(np.int32)
        return actor_idx, target_idx
