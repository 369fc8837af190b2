"""Array conventions shared by the graph modules: dtypes, sentinels and sorted-key helpers.

A directed entry ``(row, col)`` is encoded as one int64 *key* ``row << 32 | col``; node ids are
non-negative int32, so keys sort exactly like ``(row, col)`` pairs and fit in 63 bits.
"""

from __future__ import annotations

import operator
from typing import Any, Final

import numpy as np
import numpy.typing as npt

Int32Array = npt.NDArray[np.int32]
Int64Array = npt.NDArray[np.int64]
UInt32Array = npt.NDArray[np.uint32]
UInt64Array = npt.NDArray[np.uint64]
BoolArray = npt.NDArray[np.bool_]

NO_TS: Final[int] = int(np.iinfo(np.int64).min)
"""``last_ts`` of a pair with no timestamped event: below every real time, so ``max`` ignores it."""

UINT32_MAX: Final[int] = int(np.iinfo(np.uint32).max)
"""Interaction counts saturate here instead of wrapping around."""

MAX_NODE_ID: Final[int] = int(np.iinfo(np.int32).max) - 1
"""Largest node id; ``n_nodes`` (one more) must still fit in int32."""

_LOW32: Final[int] = 0xFFFFFFFF


def check_id(u: int) -> int:
    """Return ``u`` as a Python int, or raise ``ValueError`` if it is not a node id (0..MAX_NODE_ID)."""
    i = operator.index(u)
    if not 0 <= i <= MAX_NODE_ID:
        raise ValueError(f"node id {i} is outside 0..{MAX_NODE_ID}")
    return i


def as_ids(x: npt.ArrayLike, name: str) -> Int32Array:
    """Validate a 1-D array of node ids and return it as int32 (no copy when it already is)."""
    a = np.asarray(x)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if a.size == 0:
        return np.empty(0, dtype=np.int32)
    if not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"{name} must hold integers, got {a.dtype}")
    if int(a.min()) < 0 or int(a.max()) > MAX_NODE_ID:
        raise ValueError(f"{name} holds ids outside 0..{MAX_NODE_ID}")
    return a.astype(np.int32, copy=False)


def as_timestamps(x: npt.ArrayLike, size: int) -> Int64Array:
    """Unix seconds as int64 (floats are floored); ``ValueError`` on a wrong length or non-finite value."""
    a = np.asarray(x)
    if a.shape != (size,):
        raise ValueError(f"ts must have shape ({size},), got {a.shape}")
    if a.size and np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ValueError("ts holds NaN or infinite values")
        floored: Int64Array = np.floor(a).astype(np.int64)
        return floored
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"ts must be numeric, got {a.dtype}")
    return a.astype(np.int64, copy=False)


def entry_keys(rows: Int32Array, cols: Int32Array) -> Int64Array:
    """Encode directed entries as sortable int64 keys ``row << 32 | col``."""
    keys = rows.astype(np.int64)
    keys <<= 32
    keys |= cols  # in place: no int64 copy of cols
    return keys


def split_keys(keys: Int64Array) -> tuple[Int32Array, Int32Array]:
    """Inverse of :func:`entry_keys`: ``(rows, cols)`` as int32."""
    return (keys >> 32).astype(np.int32), (keys & _LOW32).astype(np.int32)


def saturating_add(counts: UInt32Array, delta: npt.NDArray[np.unsignedinteger]) -> UInt32Array:
    """``counts + delta`` clipped to ``UINT32_MAX``, as uint32."""
    total = counts.astype(np.uint64) + delta.astype(np.uint64)
    return np.minimum(total, UINT32_MAX).astype(np.uint32)


def locate(sorted_keys: Int64Array, keys: Int64Array) -> tuple[Int64Array, BoolArray]:
    """Positions of ``keys`` in ``sorted_keys`` and whether each was found (position is junk if not)."""
    pos = np.searchsorted(sorted_keys, keys).astype(np.int64)
    if sorted_keys.size == 0:
        return pos, np.zeros(keys.size, dtype=bool)
    clipped = np.minimum(pos, sorted_keys.size - 1)
    return clipped, sorted_keys[clipped] == keys


def merge_sorted(
    a_keys: Int64Array,
    a_cols: tuple[npt.NDArray[Any], ...],
    b_keys: Int64Array,
    b_cols: tuple[npt.NDArray[Any], ...],
    drop: Int64Array | None = None,
) -> tuple[Int64Array, tuple[npt.NDArray[Any], ...]]:
    """Merge sorted ``a`` (minus positions ``drop``) with sorted ``b``, carrying payload columns along.

    ``drop``: sorted unique positions in ``a`` to leave out. Keys of the kept ``a`` and of ``b`` must be
    disjoint. Columns pair up by position and share dtypes; the returned columns are always new arrays
    (the keys may be ``a_keys`` itself when nothing changes). O(len(a) + len(b) log len(a)): meant for a
    large ``a`` and small ``b`` and ``drop``; one column-sized temporary at a time.
    """
    drop = np.empty(0, dtype=np.int64) if drop is None else drop
    if b_keys.size == 0 and drop.size == 0:
        return a_keys, tuple(a.copy() for a in a_cols)
    keep: BoolArray | None = None
    if drop.size:
        keep = np.ones(a_keys.size, dtype=bool)
        keep[drop] = False
    pos = np.searchsorted(a_keys, b_keys)
    pos -= np.searchsorted(drop, pos)  # dropped entries before an insertion point shift it left
    pos += np.arange(b_keys.size)
    from_a = np.ones(a_keys.size - drop.size + b_keys.size, dtype=bool)
    from_a[pos] = False

    def put(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> npt.NDArray[Any]:
        out = np.empty(from_a.size, dtype=a.dtype)
        out[pos] = b
        out[from_a] = a if keep is None else a[keep]
        return out

    return put(a_keys, b_keys), tuple(put(a, b) for a, b in zip(a_cols, b_cols, strict=True))
