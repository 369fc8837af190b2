"""Columnar event blocks: how the simulator holds events before they are ordered and written.

An event is five numbers: ``ts`` (int64 UNIX seconds), ``type`` (uint8 index into :data:`TYPE_CODES`),
``actor`` and ``target`` (int32 user ids, ``target = -1`` for unary types; widen before multiplying) and
``props`` (int8 index into :data:`PROPS`, ``-1`` for none). Blocks are concatenated, filtered and
sorted as plain NumPy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pymk.events.schema import EventType

#: ``type`` code ``i`` is ``TYPE_CODES[i]``.
TYPE_CODES: tuple[EventType, ...] = tuple(EventType)
CODE: dict[EventType, int] = {t: i for i, t in enumerate(TYPE_CODES)}

#: ``props`` code ``i`` is the JSON object ``PROPS[i]`` (compact, keys sorted).
PROPS: tuple[str, ...] = (
    '{"source":"search"}',
    '{"source":"feed"}',
    '{"source":"profile"}',
    '{"reason":"spam"}',
    '{"reason":"harassment"}',
    '{"reason":"other"}',
)
VIEW_SOURCES = np.array([0, 1, 2], dtype=np.int8)
BLOCK_REASONS = np.array([3, 4, 5], dtype=np.int8)
NO_PROPS = -1


@dataclass(frozen=True)
class Block:
    """Events of one kind (or many), as parallel arrays of equal length."""

    ts: np.ndarray
    type: np.ndarray
    actor: np.ndarray
    target: np.ndarray
    props: np.ndarray

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    def take(self, rows: np.ndarray) -> Block:
        """The rows ``rows`` (a mask or indices) of this block."""
        return Block(self.ts[rows], self.type[rows], self.actor[rows], self.target[rows], self.props[rows])

    def column(self, name: str) -> np.ndarray:
        """One column by name (``ts``, ``type``, ``actor``, ``target`` or ``props``)."""
        out: np.ndarray = getattr(self, name)
        return out


COLUMNS = ("ts", "type", "actor", "target", "props")


def block(
    etype: EventType,
    ts: np.ndarray,
    actor: np.ndarray,
    target: np.ndarray | None = None,
    props: np.ndarray | None = None,
) -> Block:
    """A block of ``etype`` events; ``target=None`` means no target, ``props=None`` no props."""
    n = ts.shape[0]
    return Block(
        ts=ts.astype(np.int64, copy=False),
        type=np.full(n, CODE[etype], dtype=np.uint8),
        actor=actor.astype(np.int32, copy=False),
        target=np.full(n, -1, np.int32) if target is None else target.astype(np.int32, copy=False),
        props=np.full(n, NO_PROPS, np.int8) if props is None else props.astype(np.int8, copy=False),
    )


def concat(blocks: list[Block]) -> Block:
    """One block holding the rows of ``blocks`` in order."""
    if not blocks:
        return block(EventType.SIGNUP, np.zeros(0, np.int64), np.zeros(0, np.int64))
    return Block(
        ts=np.concatenate([b.ts for b in blocks]),
        type=np.concatenate([b.type for b in blocks]),
        actor=np.concatenate([b.actor for b in blocks]),
        target=np.concatenate([b.target for b in blocks]),
        props=np.concatenate([b.props for b in blocks]),
    )


def pair_keys(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Undirected pair key ``min * n + max`` (int64) of each ``(a[i], b[i])``."""
    lo = np.minimum(a, b).astype(np.int64)
    hi = np.maximum(a, b).astype(np.int64)
    keys: np.ndarray = lo * n + hi
    return keys


def in_sorted(values: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """Mask: is ``values[i]`` in ``sorted_keys`` (ascending)?"""
    if sorted_keys.shape[0] == 0:
        return np.zeros(values.shape[0], dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_keys, values), sorted_keys.shape[0] - 1)
    found: np.ndarray = sorted_keys[pos] == values
    return found


def first_unique(keys: np.ndarray) -> np.ndarray:
    """Indices of the first occurrence of each distinct key, ascending."""
    # A stable sort, not np.unique: its hash table is several times slower on large random int64 keys.
    order = np.argsort(keys, kind="stable")
    ranked = keys[order]
    fresh = np.ones(order.shape[0], dtype=bool)
    fresh[1:] = ranked[1:] != ranked[:-1]
    return np.sort(order[fresh])
