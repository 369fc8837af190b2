"""Fold a ``GraphStore`` overlay into fresh CSR graphs, vectorised.

The store keeps two symmetric ``CSRGraph`` tables with stats: ``base`` (the edges) and ``side`` (pairs
that interacted but are not connected). Both are sorted entry tables keyed ``row << 32 | col``, so a
compaction is: look the overlay's entries up by binary search, update their stats in place, move
entries whose edge state flipped between the two tables, drop deleted users, and merge the few new
entries in. It is O(entries + overlay · log entries) with no global sort.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from pymk.graph._arrays import (
    NO_TS,
    Int32Array,
    Int64Array,
    UInt32Array,
    UInt64Array,
    locate,
    merge_sorted,
    saturating_add,
    split_keys,
)
from pymk.graph.csr import CSRGraph

KEEP: Final = 0
"""Overlay state: the pair's edge status is as in the base."""
ADDED: Final = 1
"""Overlay state: the pair is connected now and is not a base edge."""
REMOVED: Final = 2
"""Overlay state: the pair is a base edge that has been disconnected."""


@dataclass(frozen=True)
class OverlayEntries:
    """The overlay as directed entries: sorted unique ``keys`` with both directions of every pair.

    ``count``: interactions row → col to add (uint64); ``last_ts``: int64 seconds or NO_TS (same on both
    directions); ``state``: KEEP, ADDED or REMOVED (int8, same on both directions).
    """

    keys: Int64Array
    count: UInt64Array
    last_ts: Int64Array
    state: npt.NDArray[np.int8]


@dataclass
class _Table:
    """Directed entries with stats: strictly increasing keys, uint32 counts, int64 times."""

    keys: Int64Array
    count: UInt32Array
    last_ts: Int64Array

    @classmethod
    def gather(cls, graph: CSRGraph, keys: Int64Array, positions: Int64Array) -> _Table:
        """Entries of ``graph`` (whose ``entry_keys()`` are ``keys``) at ``positions``."""
        count, last_ts = graph.count_out, graph.last_ts
        return cls(
            keys[positions],
            np.zeros(positions.size, np.uint32) if count is None else count[positions],
            np.full(positions.size, NO_TS, np.int64) if last_ts is None else last_ts[positions],
        )

    @classmethod
    def fresh(cls, keys: Int64Array) -> _Table:
        """Entries without history (stats come from the overlay afterwards)."""
        return cls(keys, np.zeros(keys.size, np.uint32), np.full(keys.size, NO_TS, np.int64))

    @classmethod
    def concat(cls, a: _Table, b: _Table) -> _Table:
        """Both, sorted by key (for small tables)."""
        keys = np.concatenate([a.keys, b.keys])
        order = np.argsort(keys)
        count = np.concatenate([a.count, b.count])[order]
        return cls(keys[order], count, np.concatenate([a.last_ts, b.last_ts])[order])

    @classmethod
    def rebuilt(cls, graph: CSRGraph, keys: Int64Array, drop: Int64Array, insert: _Table) -> _Table:
        """``graph``'s entries minus positions ``drop`` plus ``insert``, as new arrays."""
        count = np.zeros(keys.size, np.uint32) if graph.count_out is None else graph.count_out
        last_ts = np.full(keys.size, NO_TS, np.int64) if graph.last_ts is None else graph.last_ts
        cols = (insert.count, insert.last_ts)
        out_keys, (out_count, out_ts) = merge_sorted(keys, (count, last_ts), insert.keys, cols, drop)
        return cls(out_keys, out_count, out_ts)

    def without_nodes(self, deleted: Int32Array) -> _Table:
        """Entries touching none of ``deleted`` (for small tables)."""
        rows, cols = split_keys(self.keys)
        keep = ~(np.isin(rows, deleted) | np.isin(cols, deleted))
        return _Table(self.keys[keep], self.count[keep], self.last_ts[keep])

    def apply(self, overlay: OverlayEntries) -> None:
        """Add the overlay's counts and fold in its times for the entries present here."""
        pos, found = locate(self.keys, overlay.keys)
        pos = pos[found]
        self.count[pos] = saturating_add(self.count[pos], overlay.count[found])
        self.last_ts[pos] = np.maximum(self.last_ts[pos], overlay.last_ts[found])

    def to_graph(self, n_nodes: int) -> CSRGraph:
        # Row u starts at the first key ≥ u << 32: n_nodes binary searches instead of a row-id array.
        indptr = np.searchsorted(self.keys, np.arange(n_nodes + 1, dtype=np.int64) << 32).astype(np.int64)
        cols = (self.keys & 0xFFFFFFFF).astype(np.int32)
        return CSRGraph(indptr, cols, self.count, self.last_ts)


def _incident(graph: CSRGraph, keys: Int64Array, users: Int32Array) -> Int64Array:
    """Sorted positions of the entries of ``graph`` that touch ``users``: their rows and the mirrors."""
    users = users[users < graph.n_nodes]
    starts, lengths = graph.indptr[users], graph.degrees()[users]
    # concatenated ranges starts[i] .. starts[i] + lengths[i] - 1, without a Python loop
    offsets = np.cumsum(lengths) - lengths
    rows = np.arange(int(lengths.sum()), dtype=np.int64) + np.repeat(starts - offsets, lengths)
    mirror_keys = (graph.indices[rows].astype(np.int64) << 32) | (keys[rows] >> 32)
    mirrors, found = locate(keys, mirror_keys)
    return np.union1d(rows, mirrors[found])


def compact(
    base: CSRGraph,
    side: CSRGraph,
    overlay: OverlayEntries,
    deleted: Int32Array,
    n_nodes: int,
) -> tuple[CSRGraph, CSRGraph]:
    """Return the new ``(base, side)`` on ``n_nodes`` nodes, both with stats.

    ``deleted``: users deleted since the last compaction; every entry touching them (in both tables
    and the overlay) is dropped. Peak extra memory is about one key array (8 bytes per entry) plus the
    new table and one column-sized temporary. Raises ``AssertionError`` if the overlay contradicts the
    tables (an ADDED pair already in ``base``, a REMOVED pair missing from it): a bug in the store.
    """
    b_keys, s_keys = base.entry_keys(), side.entry_keys()
    pos_b, in_b = locate(b_keys, overlay.keys)
    pos_s, in_s = locate(s_keys, overlay.keys)
    state = overlay.state
    if (in_b & in_s).any() or (in_b & (state == ADDED)).any() or (~in_b & (state == REMOVED)).any():
        raise AssertionError("graph overlay is inconsistent with its base")

    fresh = ~(in_b | in_s)
    leaving_b = np.sort(pos_b[in_b & (state == REMOVED)])  # base edges that were disconnected
    leaving_s = np.sort(pos_s[in_s & (state == ADDED)])  # side pairs that got connected
    to_base = _Table.concat(
        _Table.gather(side, s_keys, leaving_s), _Table.fresh(overlay.keys[fresh & (state == ADDED)])
    )
    to_side = _Table.concat(
        _Table.gather(base, b_keys, leaving_b), _Table.fresh(overlay.keys[fresh & (state != ADDED)])
    )
    if deleted.size:
        to_base, to_side = to_base.without_nodes(deleted), to_side.without_nodes(deleted)
        leaving_b = np.union1d(leaving_b, _incident(base, b_keys, deleted))
        leaving_s = np.union1d(leaving_s, _incident(side, s_keys, deleted))

    new_base = _Table.rebuilt(base, b_keys, leaving_b, to_base)
    del b_keys
    new_side = _Table.rebuilt(side, s_keys, leaving_s, to_side)
    new_base.apply(overlay)
    new_side.apply(overlay)
    return new_base.to_graph(n_nodes), new_side.to_graph(n_nodes)
