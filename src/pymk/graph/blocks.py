"""Directional user blocks, indexed both ways so every edit and check is O(1) expected."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pymk.graph._arrays import Int32Array

_EMPTY: frozenset[int] = frozenset()


def _discard(table: dict[int, set[int]], key: int, value: int) -> None:
    row = table.get(key)
    if row is not None:
        row.discard(value)
        if not row:
            del table[key]


def _sorted(members: set[int] | frozenset[int]) -> Int32Array:
    return np.array(sorted(members), dtype=np.int32).reshape(-1)


class Blocks:
    """The set of ``(blocker, blocked)`` pairs; ids are validated by the caller."""

    __slots__ = ("_by", "_of")

    def __init__(self) -> None:
        self._by: dict[int, set[int]] = {}  # blocker -> users they blocked
        self._of: dict[int, set[int]] = {}  # blocked -> users who blocked them

    def add(self, blocker: int, blocked: int) -> bool:
        """Record the block; True if it is new."""
        if blocked in self._by.get(blocker, _EMPTY):
            return False
        self._by.setdefault(blocker, set()).add(blocked)
        self._of.setdefault(blocked, set()).add(blocker)
        return True

    def remove(self, blocker: int, blocked: int) -> bool:
        """Lift the block; True if there was one."""
        if blocked not in self._by.get(blocker, _EMPTY):
            return False
        _discard(self._by, blocker, blocked)
        _discard(self._of, blocked, blocker)
        return True

    def either(self, a: int, b: int) -> bool:
        """Whether ``a`` blocked ``b`` or ``b`` blocked ``a``."""
        return b in self._by.get(a, _EMPTY) or a in self._by.get(b, _EMPTY)

    def blocked_by(self, u: int) -> Int32Array:
        """Users ``u`` blocked, sorted int32."""
        return _sorted(self._by.get(u, _EMPTY))

    def blockers_of(self, u: int) -> Int32Array:
        """Users who blocked ``u``, sorted int32."""
        return _sorted(self._of.get(u, _EMPTY))

    def purge(self, u: int) -> None:
        """Forget every block ``u`` made or received."""
        for v in self._by.pop(u, _EMPTY):
            _discard(self._of, v, u)
        for v in self._of.pop(u, _EMPTY):
            _discard(self._by, v, u)

    def to_array(self) -> Int32Array:
        """All blocks as int32 shape ``(k, 2)`` rows ``(blocker, blocked)``, sorted."""
        pairs = sorted((a, b) for a, row in self._by.items() for b in row)
        return np.array(pairs, dtype=np.int32).reshape(-1, 2)

    @classmethod
    def from_array(cls, pairs: npt.NDArray[np.integer]) -> Blocks:
        """Inverse of :meth:`to_array`."""
        blocks = cls()
        for a, b in pairs.tolist():
            blocks.add(a, b)
        return blocks
