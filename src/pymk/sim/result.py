"""The simulator's output: a time-ordered event stream held as columns, with Arrow and event views.

Row ``i`` of a :class:`SimResult` is the event with id ``f"{id_prefix}{i}"``; rows are ordered by ``ts``
(ties: generation order, signups first). User ``k`` is ``f"u{k}"`` (``k`` = arrival rank).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from pymk.events.schema import Event, EventType
from pymk.sim.columns import CODE, PROPS, TYPE_CODES, Block
from pymk.sim.config import SimConfig

#: Arrow schema of :meth:`SimResult.to_arrow` (and of the Parquet files the simulator writes).
SCHEMA = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("ts", pa.int64(), nullable=False),
        pa.field("type", pa.string(), nullable=False),
        pa.field("actor", pa.string(), nullable=False),
        pa.field("target", pa.string()),
        pa.field("props", pa.string()),
    ]
)
_TYPE_NAMES = pa.array([t.value for t in TYPE_CODES], pa.string())
_PROPS = pa.array(PROPS, pa.string())


@dataclass(frozen=True)
class SimResult:
    """A simulated event stream (DESIGN §2 events), ordered by ``ts`` (int64 UNIX seconds, UTC).

    ``events`` holds the columns (see :mod:`pymk.sim.columns`); ``seconds`` is how long simulating took.
    """

    config: SimConfig
    events: Block
    seconds: float

    def __len__(self) -> int:
        return len(self.events)

    @property
    def id_prefix(self) -> str:
        """Event ids are this prefix plus the row number; it names the config, so runs never collide."""
        return f"sim-{self.config.fingerprint()}-"

    @property
    def users(self) -> int:
        """Users who signed up."""
        return self.count(EventType.SIGNUP)

    @property
    def connections(self) -> int:
        """``connect`` events (each a distinct pair)."""
        return self.count(EventType.CONNECT)

    def count(self, etype: EventType) -> int:
        """Number of events of one type."""
        return int(np.count_nonzero(self.events.type == CODE[etype]))

    def counts(self) -> dict[str, int]:
        """Events per type name, every type present (zeros included), in :class:`EventType` order."""
        per = np.bincount(self.events.type, minlength=len(TYPE_CODES))
        return {t.value: int(per[i]) for i, t in enumerate(TYPE_CODES)}

    def to_arrow(self, start: int = 0, stop: int | None = None) -> pa.Table:
        """Rows ``start:stop`` as an Arrow table of :data:`SCHEMA` (``target``/``props`` null if none)."""
        stop = len(self) if stop is None else min(stop, len(self))
        ev = self.events
        sl = slice(start, stop)
        rows = pa.array(np.arange(start, stop, dtype=np.int64))
        target = ev.target[sl]
        props = ev.props[sl]
        columns = [
            pc.binary_join_element_wise(self.id_prefix, pc.cast(rows, pa.string()), ""),
            pa.array(ev.ts[sl]),
            pc.take(_TYPE_NAMES, pa.array(ev.type[sl])),
            _user_ids(pa.array(ev.actor[sl])),
            _user_ids(pa.array(target, mask=target < 0)),
            pc.take(_PROPS, pa.array(props.astype(np.int64), mask=props < 0)),
        ]
        return pa.Table.from_arrays(columns, schema=SCHEMA)

    def iter_tables(self, chunk_rows: int = 1_000_000) -> Iterator[pa.Table]:
        """:meth:`to_arrow` in consecutive chunks of at most ``chunk_rows`` rows."""
        for start in range(0, len(self), chunk_rows):
            yield self.to_arrow(start, start + chunk_rows)

    def iter_events(self, start: int = 0, stop: int | None = None) -> Iterator[Event]:
        """Rows ``start:stop`` as :class:`~pymk.events.schema.Event` objects (for live replay)."""
        for table in _chunks(self, start, stop):
            for row in table.to_pylist():
                yield _event(row)


def _chunks(result: SimResult, start: int, stop: int | None) -> Iterator[pa.Table]:
    stop = len(result) if stop is None else min(stop, len(result))
    for lo in range(start, stop, 100_000):
        yield result.to_arrow(lo, min(lo + 100_000, stop))


def _event(row: dict[str, Any]) -> Event:
    props = orjson.loads(row["props"]) if row["props"] is not None else {}
    return Event(
        row["event_id"], float(row["ts"]), EventType(row["type"]), row["actor"], row["target"], props
    )


def _user_ids(numbers: pa.Array) -> pa.Array:
    """``"u<k>"`` for each int ``k`` (nulls stay null)."""
    return pc.binary_join_element_wise("u", pc.cast(numbers, pa.string()), "")
