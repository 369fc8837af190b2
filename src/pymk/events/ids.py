"""Mapping between opaque external user ids (strings) and dense internal ints.

Internal ids are assigned ``0, 1, 2, ...`` in order of first sight and never reused, so arrays indexed by
internal id (graph rows, feature vectors) stay valid as users arrive. Persisted as a one-column Arrow IPC
file whose row number is the internal id.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from pymk.errors import NotFound


class IdMap:
    """A bijection ``str <-> int`` with ids ``0..len-1`` in order of first sight.

    Relies on ``dict`` keeping insertion order: the position of a key is its internal id.
    """

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._index: dict[str, int] = {}
        self._ids: list[str] = []
        for external in ids:
            self._index.setdefault(external, len(self._index))
        self._ids = list(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, external: object) -> bool:
        return external in self._index

    def encode(self, ids: Iterable[str]) -> np.ndarray:
        """Internal ids (int32) of ``ids``, assigning new ones to ids never seen before."""
        index = self._index
        out = np.fromiter((index.setdefault(x, len(index)) for x in ids), dtype=np.int64)
        if len(index) != len(self._ids):
            self._ids.extend(list(index)[len(self._ids) :])
        if len(index) > np.iinfo(np.int32).max:
            raise OverflowError("more than 2**31 users do not fit int32 internal ids")
        return out.astype(np.int32)

    def lookup(self, ids: Iterable[str]) -> np.ndarray:
        """Internal ids (int32) of ``ids``, ``-1`` where an id is unknown. Assigns nothing."""
        get = self._index.get
        return np.fromiter((get(x, -1) for x in ids), dtype=np.int32)

    def internal(self, external: str) -> int:
        """The internal id of one user; raises :class:`NotFound` when unknown."""
        try:
            return self._index[external]
        except KeyError:
            raise NotFound(f"unknown user {external!r}") from None

    def external(self, internal: int) -> str:
        """The external id of one internal id; raises :class:`NotFound` when out of range."""
        if not 0 <= internal < len(self._ids):
            raise NotFound(f"no user with internal id {internal}")
        return self._ids[internal]

    def decode(self, internal: Sequence[int] | np.ndarray) -> list[str]:
        """External ids of an array of internal ids (all must be valid)."""
        ids = self._ids
        return [ids[i] for i in np.asarray(internal, dtype=np.int64).tolist()]

    def save(self, path: Path) -> None:
        """Write atomically (temp file + rename) as an Arrow IPC file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        table = pa.table({"user_id": pa.array(self._ids, pa.string())})
        with pa.OSFile(str(tmp), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> IdMap:
        """Read a map written by :meth:`save`; a missing file gives an empty map."""
        if not path.exists():
            return cls()
        with pa.memory_map(str(path), "r") as source:
            column = ipc.open_file(source).read_all().column("user_id")
        return cls(column.to_pylist())
