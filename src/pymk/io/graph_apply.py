"""How imported events change the graph (DESIGN §2-§3), applied once per import, at its commit.

Every row of an edge-list format, and every ``message``/``like``/``follow`` event, is an *interaction*:
it is counted on the pair, and the first interaction ever seen for an unordered pair also connects it
(explicit ``connect`` events connect too). ``disconnect``, ``block``, ``unblock`` and ``delete_user``
do what they say (see :class:`~pymk.graph.GraphStore`); ``signup``, ``unfollow``, ``profile_view``,
``impression`` and ``click`` only make sure their users exist. The graph lives in ``PYMK_HOME/graph/``.
"""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path

import numpy as np
import numpy.typing as npt

from pymk.events.schema import EventType
from pymk.graph import NO_TS, GraphStore


class Op(IntEnum):
    """What one event does to the graph."""

    NODE = 0
    INTERACT = 1
    CONNECT = 2
    DISCONNECT = 3
    BLOCK = 4
    UNBLOCK = 5
    DELETE = 6


OP_OF: dict[EventType, Op] = {
    EventType.SIGNUP: Op.NODE,
    EventType.CONNECT: Op.CONNECT,
    EventType.DISCONNECT: Op.DISCONNECT,
    EventType.FOLLOW: Op.INTERACT,
    EventType.UNFOLLOW: Op.NODE,
    EventType.PROFILE_VIEW: Op.NODE,
    EventType.LIKE: Op.INTERACT,
    EventType.MESSAGE: Op.INTERACT,
    EventType.BLOCK: Op.BLOCK,
    EventType.UNBLOCK: Op.UNBLOCK,
    EventType.IMPRESSION: Op.NODE,
    EventType.CLICK: Op.NODE,
    EventType.DELETE_USER: Op.DELETE,
}


def graph_dir(home: Path) -> Path:
    """Where ``home`` keeps its graph."""
    return home / "graph"


def load_graph(home: Path) -> GraphStore:
    """The graph of ``home``, or an empty one when nothing was imported yet."""
    path = graph_dir(home)
    return GraphStore.load(path) if path.exists() else GraphStore()


def graph_seconds(ts: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """UNIX seconds as the graph keeps them: floored int64, ``NO_TS`` where there is no time (NaN)."""
    out = np.full(ts.shape, NO_TS, dtype=np.int64)
    valid = np.isfinite(ts)
    out[valid] = np.floor(ts[valid]).astype(np.int64)
    return out


class GraphUpdate:
    """The graph operations of one import, in arrival order (17 bytes per event); nothing touches the
    graph before :meth:`apply`."""

    def __init__(self) -> None:
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.size = 0

    def add(self, ops: npt.ArrayLike, actor: npt.ArrayLike, target: npt.ArrayLike, ts: npt.ArrayLike) -> None:
        """Queue events: ``ops`` (:class:`Op` codes), internal ``actor``/``target`` ids (target -1 for
        unary events) and ``ts`` UNIX seconds (NaN: no time), all of one length."""
        parts = (
            np.asarray(ops, dtype=np.int8),
            np.asarray(actor, dtype=np.int32),
            np.asarray(target, dtype=np.int32),
            graph_seconds(np.asarray(ts, dtype=np.float64)),
        )
        self._parts.append(parts)
        self.size += int(parts[0].size)

    def apply(self, graph: GraphStore, n_users: int) -> GraphStore:
        """Apply the queued events to ``graph`` and make it hold ``n_users`` nodes; returns the graph
        (a new one when a bulk build was possible: an empty graph and interactions only)."""
        if not self._parts:
            graph.ensure_nodes(n_users)
            return graph
        ops, actor, target, ts = (np.concatenate(column) for column in zip(*self._parts, strict=True))
        if graph.n_nodes == 0 and bool(np.all(ops == Op.INTERACT)):
            no_time = bool(np.all(ts == NO_TS))
            if no_time or not bool(np.any(ts == NO_TS)):
                bulk = GraphStore.from_interactions(
                    actor,
                    target,
                    None if no_time else ts,
                    n_nodes=n_users,
                    compact_threshold=graph.compact_threshold,
                )
                return bulk
        graph.ensure_nodes(n_users)
        _apply_each(graph, ops, actor, target, ts)
        return graph


def _apply_each(
    graph: GraphStore,
    ops: npt.NDArray[np.int8],
    actor: npt.NDArray[np.int32],
    target: npt.NDArray[np.int32],
    ts: npt.NDArray[np.int64],
) -> None:
    for op, u, v, t in zip(ops.tolist(), actor.tolist(), target.tolist(), ts.tolist(), strict=True):
        if op == Op.INTERACT:
            out, back, last = graph.pair_stats(u, v)
            if out == 0 and back == 0 and last == NO_TS:  # first sight of the pair
                graph.connect(u, v, t)
            graph.interact(u, v, t)
        elif op == Op.CONNECT:
            graph.connect(u, v, t)
        elif op == Op.DISCONNECT:
            graph.disconnect(u, v, t)
        elif op == Op.BLOCK:
            graph.block(u, v, t)
        elif op == Op.UNBLOCK:
            graph.unblock(u, v, t)
        elif op == Op.DELETE:
            graph.delete_user(u, t)
