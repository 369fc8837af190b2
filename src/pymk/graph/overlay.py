"""The mutable delta of a ``GraphStore``: edge and stat edits since the last compaction.

Everything lives in dicts and sets so one edit costs O(1) expected time; :meth:`Overlay.entries` turns it
into sorted arrays for :func:`pymk.graph.compaction.compact`.
"""

from __future__ import annotations

import numpy as np

from pymk.graph._arrays import NO_TS, Int32Array, entry_keys
from pymk.graph.compaction import ADDED, KEEP, REMOVED, OverlayEntries

_EMPTY: frozenset[int] = frozenset()


def _link(table: dict[int, set[int]], u: int, v: int) -> None:
    table.setdefault(u, set()).add(v)
    table.setdefault(v, set()).add(u)


def _unlink(table: dict[int, set[int]], u: int, v: int) -> None:
    for a, b in ((u, v), (v, u)):
        row = table[a]
        row.remove(b)
        if not row:
            del table[a]


class Overlay:
    """Edits on top of a base edge set. Symmetric: ``v in added[u]`` iff ``u in added[v]``, same for
    ``removed``. ``added`` holds connected pairs absent from the base, ``removed`` disconnected base
    pairs; a pair is never in both. ``stats[(lo, hi)] = [count lo→hi, count hi→lo, last_ts]`` are
    increments (counts) and a running max (time) on top of the base's stats."""

    __slots__ = ("_n_added", "_n_removed", "added", "removed", "stats")

    def __init__(self) -> None:
        self.added: dict[int, set[int]] = {}
        self.removed: dict[int, set[int]] = {}
        self.stats: dict[tuple[int, int], list[int]] = {}
        self._n_added = 0
        self._n_removed = 0

    def __len__(self) -> int:
        """Overlay entries, compared with the compaction threshold: pairs whose edge changed plus pairs
        with new stats (a ``connect`` of a new pair counts twice)."""
        return self._n_added + self._n_removed + len(self.stats)

    @property
    def edge_delta(self) -> int:
        """Undirected edges added minus edges removed relative to the base."""
        return self._n_added - self._n_removed

    def state(self, u: int, v: int) -> bool | None:
        """True if the overlay connected ``u, v``, False if it disconnected them, None if untouched."""
        if v in self.added.get(u, _EMPTY):
            return True
        if v in self.removed.get(u, _EMPTY):
            return False
        return None

    def connect(self, u: int, v: int, in_base: bool) -> None:
        """Connect a pair the caller knows to be disconnected now."""
        if in_base:
            _unlink(self.removed, u, v)
            self._n_removed -= 1
        else:
            _link(self.added, u, v)
            self._n_added += 1

    def disconnect(self, u: int, v: int, in_base: bool) -> None:
        """Disconnect a pair the caller knows to be connected now."""
        if in_base:
            _link(self.removed, u, v)
            self._n_removed += 1
        else:
            _unlink(self.added, u, v)
            self._n_added -= 1

    def record(self, u: int, v: int, ts: int, n: int) -> None:
        """Add ``n`` interactions ``u → v`` (n may be 0 for a time-only event) at ``ts``."""
        key = (u, v) if u < v else (v, u)
        stat = self.stats.get(key)
        if stat is None:
            stat = self.stats[key] = [0, 0, NO_TS]
        stat[0 if u < v else 1] += n
        stat[2] = max(stat[2], ts)

    def pair(self, u: int, v: int) -> tuple[int, int, int]:
        """``(count u→v, count v→u, last_ts)`` recorded here (zeros and NO_TS if none)."""
        stat = self.stats.get((u, v) if u < v else (v, u))
        if stat is None:
            return 0, 0, NO_TS
        return (stat[0], stat[1], stat[2]) if u < v else (stat[1], stat[0], stat[2])

    def degree_delta(self, u: int) -> int:
        return len(self.added.get(u, _EMPTY)) - len(self.removed.get(u, _EMPTY))

    def row(self, table: dict[int, set[int]], u: int) -> Int32Array:
        """Sorted int32 array of ``table[u]`` (empty if absent)."""
        members = table.get(u, _EMPTY)
        return np.array(sorted(members), dtype=np.int32) if members else np.empty(0, dtype=np.int32)

    def entries(self) -> OverlayEntries:
        """Both directions of every touched pair, sorted by entry key (see ``OverlayEntries``)."""
        state: dict[tuple[int, int], int] = dict.fromkeys(self.stats, KEEP)
        for table, code in ((self.added, ADDED), (self.removed, REMOVED)):
            for u, row in table.items():
                state.update(((u, v), code) for v in row if u < v)
        m = len(state)
        pairs = np.fromiter((x for key in state for x in key), dtype=np.int32, count=2 * m).reshape(m, 2)
        codes = np.fromiter(state.values(), dtype=np.int8, count=m)
        none = [0, 0, NO_TS]
        stats = np.array([self.stats.get(key, none) for key in state], dtype=np.int64).reshape(m, 3)
        lo, hi = pairs[:, 0], pairs[:, 1]
        keys = np.concatenate([entry_keys(lo, hi), entry_keys(hi, lo)])
        order = np.argsort(keys)
        return OverlayEntries(
            keys=keys[order],
            count=np.concatenate([stats[:, 0], stats[:, 1]]).astype(np.uint64)[order],
            last_ts=np.concatenate([stats[:, 2], stats[:, 2]])[order],
            state=np.concatenate([codes, codes])[order],
        )
