"""The worker's batch journal: what one batch will write, recorded before it writes anything.

Why: a batch changes five stores that share no transaction (dead letters, online store, event log,
graph + id map, seen event ids), and a worker can be killed between any two writes. The journal makes
every step either idempotent or checkable, so a restarted worker *redoes* the interrupted batch exactly
once before it polls again:

- online store: idempotent per ``event_id`` by contract;
- event log: the batch's Parquet parts have names fixed by the journal's ``batch`` id, written under a
  temporary name and renamed, so a redo overwrites the same files;
- graph: ``graph_inode`` is the inode of ``PYMK_HOME/graph`` before the batch; the graph directory is
  swapped in whole (a new inode), so a different inode means the batch is in it already
  (:func:`recover_graph_dir` first finishes a swap a kill interrupted);
- dead letters: ``letters_done`` is set right after the put; a redo that finds it unset looks for the
  batch's first letter in the store (:func:`letters_present`) before putting them;
- seen ids and the source's ack: idempotent.

One journal file per worker group, ``PYMK_HOME/worker/<group>.journal.json``, written atomically
(temporary file, fsync, rename) and deleted once the batch is acked.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from pymk.events.deadletter import DeadLetter, DeadLetterStore
from pymk.events.schema import Event, EventType

#: How far before a batch's ``received_at`` :func:`letters_present` keeps looking (seconds).
LETTER_SCAN_SLACK = 3600.0


@dataclass
class Journal:
    """One batch's decided content: the new ``events`` to apply (in arrival order), the new
    ``letters`` to store and the ids to ``mark`` seen once everything is written."""

    batch: str
    received_at: float
    events: list[Event]
    letters: list[DeadLetter]
    mark: list[str]
    graph_inode: int | None
    letters_done: bool = False
    record_ids: list[str] = field(default_factory=list)

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "batch": self.batch,
                "received_at": self.received_at,
                "events": [e.to_dict() for e in self.events],
                "letters": [
                    [d.raw, d.reason, d.detail, d.source, d.line, d.received_at] for d in self.letters
                ],
                "mark": self.mark,
                "graph_inode": self.graph_inode,
                "letters_done": self.letters_done,
                "record_ids": self.record_ids,
            }
        )

    @classmethod
    def from_json(cls, data: bytes) -> Journal:
        obj: dict[str, Any] = orjson.loads(data)
        events = [
            Event(e["event_id"], float(e["ts"]), EventType(e["type"]), e["actor"], e["target"], e["props"])
            for e in obj["events"]
        ]
        return cls(
            batch=obj["batch"],
            received_at=float(obj["received_at"]),
            events=events,
            letters=[DeadLetter(*row) for row in obj["letters"]],
            mark=list(obj["mark"]),
            graph_inode=obj["graph_inode"],
            letters_done=bool(obj["letters_done"]),
            record_ids=list(obj.get("record_ids", [])),
        )


def journal_path(home: Path, group: str) -> Path:
    """Where the worker of ``group`` keeps its journal."""
    return home / "worker" / f"{group}.journal.json"


def write_journal(path: Path, journal: Journal) -> None:
    """Replace the journal at ``path`` durably (temp file, fsync, rename, fsync of the directory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(journal.to_json())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def read_journal(path: Path) -> Journal | None:
    """The journal left at ``path`` by an interrupted batch, or ``None``."""
    try:
        return Journal.from_json(path.read_bytes())
    except FileNotFoundError:
        return None


def clear_journal(path: Path) -> None:
    path.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def dir_inode(path: Path) -> int | None:
    """Inode number of the directory ``path``, ``None`` when it does not exist."""
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


def recover_graph_dir(path: Path) -> None:
    """Finish or undo an atomic directory swap (:func:`pymk.graph._files.write_dir_atomically`) that a
    kill interrupted, and drop its leftovers. The swap renames ``path`` to ``.<name>.old-*`` only after
    ``.<name>.tmp-*`` was fully written, so with ``path`` missing and an ``.old`` present the ``.tmp``
    is complete and becomes ``path``. Call only while holding the home's lock."""
    parent, name = path.parent, path.name
    olds = sorted(parent.glob(f".{name}.old-*"))
    tmps = sorted(parent.glob(f".{name}.tmp-*"))
    if not path.exists() and olds:
        if len(tmps) == 1:
            tmps.pop().rename(path)
        else:  # cannot tell which tmp is complete: keep the old state (the batch is redone)
            olds.pop().rename(path)
    for leftover in olds + tmps:
        shutil.rmtree(leftover, ignore_errors=True)


def letters_present(store: DeadLetterStore, letters: Sequence[DeadLetter], page: int = 500) -> bool:
    """Whether the (atomic) put of ``letters`` already happened: looks for the first of them among the
    store's newest records of its reason, back to ``LETTER_SCAN_SLACK`` seconds before it was received.
    Exact while one writer at a time stores letters with ``received_at`` within that slack of storing
    them (the worker holds the home's import lock)."""
    if not letters:
        return True
    first = letters[0]
    key = (first.raw, first.detail, first.source, first.line, first.received_at)
    offset = 0
    while True:
        rows = store.list(limit=page, offset=offset, reason=first.reason)
        if not rows:
            return False
        for row in rows:
            if (row.raw, row.detail, row.source, row.line, row.received_at) == key:
                return True
        if all(row.received_at < first.received_at - LETTER_SCAN_SLACK for row in rows):
            return False
        offset += len(rows)
