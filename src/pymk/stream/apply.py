"""The worker's writes under ``PYMK_HOME``: one journaled batch into the event log, id map and graph.

The same rules as ``pymk import`` of an events-jsonl file (:mod:`pymk.io.graph_apply`): events change
the graph in arrival order, and a pair's first interaction also connects it. :class:`HomeState` keeps
the id map and the graph in memory between batches and writes both after every batch (the graph
directory swapped in atomically), so a restarted worker resumes from the last batch written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa

from pymk.events.ids import IdMap
from pymk.events.schema import Event, EventType
from pymk.io.eventlog import LOG_SCHEMA, EventLogWriter
from pymk.io.graph_apply import OP_OF, GraphUpdate, graph_dir, load_graph
from pymk.stream.journal import Journal, dir_inode, recover_graph_dir

#: Event types after which the friends of both users see other friends-of-friends.
_GRAPH_TYPES = frozenset({EventType.CONNECT, EventType.DISCONNECT, EventType.BLOCK, EventType.DELETE_USER})


class HomeState:
    """Id map and graph of one home, owned by one worker (the caller holds the home's import lock)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        recover_graph_dir(graph_dir(home))
        self.ids_path = home / "ids.arrow"
        self.ids = IdMap.load(self.ids_path)
        self._saved_ids = len(self.ids)
        self.graph = load_graph(home)

    def graph_inode(self) -> int | None:
        return dir_inode(graph_dir(self.home))

    def touched(self, events: Sequence[Event]) -> set[str]:
        """Users whose recommendations ``events`` may change: every actor and target, and for a
        connect, disconnect, block or delete the current friends of both (friends-of-friends move)."""
        users: set[str] = set()
        for event in events:
            ends = [event.actor] if event.target is None else [event.actor, event.target]
            users.update(ends)
            if event.type in _GRAPH_TYPES:
                known = [u for u in ends if u in self.ids]
                for internal in self.ids.lookup(known).tolist():
                    users.update(self.ids.decode(self.graph.neighbors(internal)))
        return users

    def _encode(self, events: Sequence[Event]) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
        """Internal ids of each event's actor and target (-1: none), new users numbered in the order
        actor, target, actor, ... of arrival, as the importer does: the same ids whatever the batches."""
        order = [u for e in events for u in ((e.actor,) if e.target is None else (e.actor, e.target))]
        codes = self.ids.encode(order)
        actors = np.empty(len(events), dtype=np.int32)
        targets = np.full(len(events), -1, dtype=np.int32)
        i = 0
        for k, event in enumerate(events):
            actors[k] = codes[i]
            if event.target is not None:
                targets[k] = codes[i + 1]
            i += 1 if event.target is None else 2
        return actors, targets

    def write_log(self, journal: Journal) -> int:
        """Append the batch's events to the Parquet event log (parts named by the batch: a redo
        overwrites them); returns the rows written."""
        events = journal.events
        if not events:
            return 0
        actor_idx, target_idx = self._encode(events)
        has_target = target_idx >= 0
        table = pa.table(
            [
                pa.array([e.event_id for e in events], pa.string()),
                pa.array([e.ts for e in events], pa.float64()),
                pa.array([e.type.value for e in events], pa.string()),
                pa.array([e.actor for e in events], pa.string()),
                pa.array([e.target for e in events], pa.string()),
                pa.array(actor_idx, pa.int32()),
                pa.array(target_idx, pa.int32(), mask=~has_target),
                pa.array(["{}" if not e.props else orjson.dumps(e.props).decode() for e in events]),
            ],
            schema=LOG_SCHEMA,
        )
        writer = EventLogWriter(self.home, f"w{journal.batch}")
        try:
            writer.append(table)
            writer.commit()
        finally:
            writer.abort()
        return len(events)

    def write_graph(self, journal: Journal) -> bool:
        """Apply the batch to the graph and write id map and graph, unless the graph on disk already
        holds it (its directory changed since the journal was written); True when applied."""
        if journal.graph_inode != self.graph_inode():
            return False
        events = journal.events
        if not events:
            return False
        actors, targets = self._encode(events)
        if len(self.ids) != self._saved_ids:
            self.ids.save(self.ids_path)
            self._saved_ids = len(self.ids)
        update = GraphUpdate()
        update.add([int(OP_OF[e.type]) for e in events], actors, targets, [e.ts for e in events])
        self.graph = update.apply(self.graph, len(self.ids))
        self.graph.save(graph_dir(self.home))
        return True
