"""``GraphStore``: the live social graph — an immutable CSR base plus a small mutable overlay."""

from __future__ import annotations

import operator
from pathlib import Path

import numpy as np
import numpy.typing as npt

from pymk.graph import _files
from pymk.graph._arrays import NO_TS, UINT32_MAX, Int32Array, Int64Array, check_id
from pymk.graph.blocks import Blocks
from pymk.graph.compaction import compact
from pymk.graph.csr import CSRGraph
from pymk.graph.overlay import Overlay

FORMAT = "pymk.graphstore/1"
DEFAULT_COMPACT_THRESHOLD = 500_000
_EMPTY_ROW: Int32Array = np.empty(0, dtype=np.int32)


class GraphStore:
    """Mutable undirected graph on dense int ids ``0..n_nodes-1`` with per-pair interaction stats.

    Semantics (``ts`` is always int unix seconds; operations apply in call order, ``ts`` only feeds
    ``last_ts`` and deletion times):

    - ``connect``/``disconnect`` toggle an edge. ``connect`` also counts as activity of the pair
      (``last_ts``), even when the pair is already connected.
    - ``interact`` adds to the directional count and ``last_ts``; it never creates an edge.
    - ``block(blocker, blocked)`` is directional, disconnects the pair and makes ``connect`` refuse it
      (either direction) until ``unblock``. Interactions of a blocked pair are still counted.
    - ``delete_user`` removes the user's edges, blocks and pair stats, and is final: every later
      ``connect``/``interact``/``block`` involving the user is refused (returns False). The id stays
      allocated (an isolated node) so ids are never reused.
    - Self pairs are refused (False); ids must be 0..2**31-2 (``ValueError``). A mutating call with an
      id ≥ ``n_nodes`` grows the graph; a query with such an id sees an isolated node.

    Costs: edits O(1) expected (``delete_user`` O(degree)); ``neighbors`` O(degree); ``degree``,
    ``has_edge``, ``pair_stats`` O(log degree). When the overlay exceeds ``compact_threshold`` pairs it
    is folded into a fresh CSR (:meth:`compact`, O(edges), vectorised); ``None`` disables that.
    Not thread-safe: one writer, or external locking.
    """

    def __init__(
        self,
        base: CSRGraph | None = None,
        *,
        n_nodes: int = 0,
        compact_threshold: int | None = DEFAULT_COMPACT_THRESHOLD,
    ) -> None:
        self._base = CSRGraph.empty(0, with_stats=True) if base is None else base
        self._side = CSRGraph.empty(0, with_stats=True)  # stats of interacting, unconnected pairs
        self._n = max(n_nodes, self._base.n_nodes)
        self._overlay = Overlay()
        self._blocks = Blocks()
        self._deleted: dict[int, int] = {}  # user -> deletion time
        self._unpurged: list[int] = []  # deleted since the last compaction
        self.compact_threshold = compact_threshold

    @classmethod
    def from_interactions(
        cls,
        src: npt.ArrayLike,
        dst: npt.ArrayLike,
        ts: npt.ArrayLike | None = None,
        *,
        n_nodes: int | None = None,
        compact_threshold: int | None = DEFAULT_COMPACT_THRESHOLD,
    ) -> GraphStore:
        """Bulk build: row i is one interaction ``src[i] → dst[i]`` at ``ts[i]`` (unix seconds, floats
        floored; ``None``: no times). The first interaction of an unordered pair connects it, so every
        pair that interacted is an edge; self loops are dropped. Vectorised, O(rows log rows)."""
        base = CSRGraph.from_interactions(src, dst, ts, n_nodes=n_nodes)
        return cls(base, compact_threshold=compact_threshold)

    # -- size -------------------------------------------------------------------------------------

    @property
    def n_nodes(self) -> int:
        """Ids ``0..n_nodes-1`` exist (deleted users included)."""
        return self._n

    @property
    def n_edges(self) -> int:
        """Current undirected edge count."""
        return self._base.n_edges + self._overlay.edge_delta

    @property
    def overlay_size(self) -> int:
        """Pairs held in the overlay (what ``compact_threshold`` is compared with)."""
        return len(self._overlay)

    def ensure_nodes(self, n: int) -> None:
        """Grow to at least ``n`` nodes (new nodes are isolated); never shrinks."""
        if n > self._n:
            self._n = check_id(n - 1) + 1

    # -- edits ------------------------------------------------------------------------------------

    def connect(self, u: int, v: int, ts: int) -> bool:
        """Connect ``u`` and ``v``; True if the edge is new. Refused for self, deleted or blocked pairs."""
        u, v, t = self._edit(u, v, ts)
        if u == v or self._gone(u, v) or self._blocks.either(u, v):
            return False
        self._overlay.record(u, v, t, 0)
        connected, in_base = self._edge(u, v)
        if not connected:
            self._overlay.connect(u, v, in_base)
        self._maybe_compact()
        return not connected

    def disconnect(self, u: int, v: int, ts: int) -> bool:
        """Remove the edge; True if there was one. ``ts`` is accepted for event symmetry, not stored."""
        u, v, _ = self._edit(u, v, ts)
        removed = self._drop_edge(u, v)
        self._maybe_compact()
        return removed

    def interact(self, u: int, v: int, ts: int, n: int = 1) -> bool:
        """Record ``n ≥ 1`` interactions ``u → v`` at ``ts``; no edge is created. False (nothing
        recorded) for self pairs and deleted users."""
        u, v, t = self._edit(u, v, ts)
        if operator.index(n) < 1:
            raise ValueError(f"n must be ≥ 1, got {n}")
        if u == v or self._gone(u, v):
            return False
        self._overlay.record(u, v, t, n)
        self._maybe_compact()
        return True

    def block(self, blocker: int, blocked: int, ts: int) -> bool:
        """``blocker`` blocks ``blocked`` (also disconnects them); True if the block is new."""
        a, b, _ = self._edit(blocker, blocked, ts)
        if a == b or self._gone(a, b):
            return False
        self._drop_edge(a, b)
        self._maybe_compact()
        return self._blocks.add(a, b)

    def unblock(self, blocker: int, blocked: int, ts: int) -> bool:
        """Lift ``blocker``'s block on ``blocked``; True if there was one. The edge is not restored."""
        a, b, _ = self._edit(blocker, blocked, ts)
        return self._blocks.remove(a, b)

    def delete_user(self, u: int, ts: int) -> bool:
        """Delete ``u`` for good (see class doc); True unless already deleted. O(degree + blocks)."""
        u, _, t = self._edit(u, u, ts)
        if u in self._deleted:
            return False
        for v in self.neighbors(u).tolist():
            self._drop_edge(u, v)
        self._blocks.purge(u)
        self._deleted[u] = t
        self._unpurged.append(u)
        self._maybe_compact()
        return True

    # -- queries ----------------------------------------------------------------------------------

    def neighbors(self, u: int) -> Int32Array:
        """Current neighbours of ``u``, sorted int32 without duplicates. Possibly a read-only view of
        the base: copy before modifying."""
        u = check_id(u)
        row = self._base.neighbors(u) if u < self._base.n_nodes else _EMPTY_ROW
        overlay = self._overlay
        if u in overlay.removed:
            row = np.delete(row, np.searchsorted(row, overlay.row(overlay.removed, u)))
        if u in overlay.added:  # added pairs are never in the base: a plain sort suffices
            row = np.sort(np.concatenate([row, overlay.row(overlay.added, u)]))
        return row

    def degree(self, u: int) -> int:
        """Current degree of ``u`` (0 for ids ≥ ``n_nodes``), O(1)."""
        u = check_id(u)
        return self._base.degree(u) + self._overlay.degree_delta(u)

    def degrees(self) -> Int64Array:
        """Degree of every node, int64 shape ``(n_nodes,)``; O(n_nodes + overlay), a fresh array."""
        deg = np.zeros(self._n, dtype=np.int64)
        deg[: self._base.n_nodes] = self._base.degrees()
        for table, sign in ((self._overlay.added, 1), (self._overlay.removed, -1)):
            if table:
                nodes = np.fromiter(table, dtype=np.int64, count=len(table))
                deg[nodes] += sign * np.fromiter(map(len, table.values()), dtype=np.int64, count=len(table))
        return deg

    def has_edge(self, u: int, v: int) -> bool:
        """Whether ``u`` and ``v`` are connected now."""
        return self._edge(check_id(u), check_id(v))[0]

    def pair_stats(self, u: int, v: int) -> tuple[int, int, int]:
        """``(count u→v, count v→u, last_ts)``: interactions each way (saturating at 2**32-1) and the
        latest connect/interaction time (``NO_TS`` if none). Kept across disconnects; zeros and NO_TS for
        self pairs and deleted users."""
        u, v = check_id(u), check_id(v)
        if u == v or u in self._deleted or v in self._deleted:
            return 0, 0, NO_TS
        c_uv, c_vu, last = self._overlay.pair(u, v)
        for table in (self._base, self._side):
            i = table.entry_index(u, v)
            if i >= 0 and table.count_out is not None and table.last_ts is not None:
                c_uv += int(table.count_out[i])
                c_vu += int(table.count_out[table.entry_index(v, u)])
                last = max(last, int(table.last_ts[i]))
                break
        return min(c_uv, UINT32_MAX), min(c_vu, UINT32_MAX), last

    def is_blocked(self, a: int, b: int) -> bool:
        """Whether either user blocked the other."""
        return self._blocks.either(check_id(a), check_id(b))

    def blocked_by(self, u: int) -> Int32Array:
        """Users ``u`` has blocked, sorted int32."""
        return self._blocks.blocked_by(check_id(u))

    def blockers_of(self, u: int) -> Int32Array:
        """Users who blocked ``u``, sorted int32."""
        return self._blocks.blockers_of(check_id(u))

    def block_pairs(self) -> Int32Array:
        """Every block as int32 ``(k, 2)`` rows ``(blocker, blocked)``, sorted."""
        return self._blocks.to_array()

    def is_deleted(self, u: int) -> bool:
        """Whether ``u`` was deleted (deletion is final)."""
        return check_id(u) in self._deleted

    def deleted_users(self) -> Int32Array:
        """Every deleted user, sorted int32."""
        return np.sort(np.fromiter(self._deleted, dtype=np.int32, count=len(self._deleted)))

    # -- compaction and persistence ---------------------------------------------------------------

    def compact(self) -> None:
        """Fold the overlay (and pending purges of deleted users) into a fresh base CSR."""
        if not len(self._overlay) and not self._unpurged and self._base.n_nodes == self._n:
            return
        deleted = np.array(self._unpurged, dtype=np.int32)
        self._base, self._side = compact(self._base, self._side, self._overlay.entries(), deleted, self._n)
        self._overlay = Overlay()
        self._unpurged = []

    def snapshot(self) -> CSRGraph:
        """The current graph as an immutable ``CSRGraph`` with stats (compacts first); deleted users are
        isolated nodes. Later edits never change a returned snapshot."""
        self.compact()
        return self._base

    def save(self, path: str | Path) -> None:
        """Compact, then write ``path/`` atomically: ``base/`` and ``side/`` (CSR directories),
        ``blocks.npy`` (k×2 int32 blocker, blocked), ``deleted.npy`` + ``deleted_ts.npy``, meta.json."""
        self.compact()

        def write(tmp: Path) -> None:
            self._base.save(tmp / "base")
            self._side.save(tmp / "side")
            _files.save_array(tmp, "blocks", self._blocks.to_array())
            _files.save_array(tmp, "deleted", np.array(list(self._deleted), dtype=np.int32))
            _files.save_array(tmp, "deleted_ts", np.array(list(self._deleted.values()), dtype=np.int64))
            _files.write_meta(tmp, {"format": FORMAT, "n_nodes": self._n})

        _files.write_dir_atomically(path, write)

    @classmethod
    def load(
        cls, path: str | Path, *, mmap: bool = True, compact_threshold: int | None = DEFAULT_COMPACT_THRESHOLD
    ) -> GraphStore:
        """Read a store written by :meth:`save`; ``mmap`` memory-maps the CSR arrays."""
        meta = _files.read_meta(path, FORMAT)
        store = cls(CSRGraph.load(Path(path) / "base", mmap=mmap), compact_threshold=compact_threshold)
        store._side = CSRGraph.load(Path(path) / "side", mmap=mmap)
        store._n = int(meta["n_nodes"])
        store._blocks = Blocks.from_array(_files.load_array(path, "blocks", mmap=False))
        deleted = _files.load_array(path, "deleted", mmap=False).tolist()
        store._deleted = dict(
            zip(deleted, _files.load_array(path, "deleted_ts", mmap=False).tolist(), strict=True)
        )
        return store

    # -- internals --------------------------------------------------------------------------------

    def _edit(self, u: int, v: int, ts: int) -> tuple[int, int, int]:
        u, v = check_id(u), check_id(v)
        self.ensure_nodes(max(u, v) + 1)
        return u, v, operator.index(ts)

    def _gone(self, u: int, v: int) -> bool:
        return u in self._deleted or v in self._deleted

    def _edge(self, u: int, v: int) -> tuple[bool, bool]:
        """(connected now, connected in the base) for valid ids."""
        state = self._overlay.state(u, v)
        if state is True:
            return True, False  # the overlay only adds pairs the base lacks
        in_base = self._base.entry_index(u, v) >= 0
        return (in_base if state is None else False), in_base

    def _drop_edge(self, u: int, v: int) -> bool:
        connected, in_base = self._edge(u, v)
        if u == v or not connected:
            return False
        self._overlay.disconnect(u, v, in_base)
        return True

    def _maybe_compact(self) -> None:
        if self.compact_threshold is not None and len(self._overlay) > self.compact_threshold:
            self.compact()

    def __repr__(self) -> str:
        return f"GraphStore(n_nodes={self._n}, n_edges={self.n_edges}, overlay={len(self._overlay)})"
