"""Acked-prefix bookkeeping for sources that commit a position (Kafka offsets, file lines)."""

from __future__ import annotations

from collections import deque


class AckedPrefix:
    """Positions delivered in increasing order on one partition; tells how far the acked prefix reaches.

    ``deliver(p)`` in increasing ``p``; ``ack(p)`` in any order. ``ack`` returns the new commit
    position (the first position *not* yet acked and delivered, i.e. last contiguous acked + 1) when
    it moved, else ``None``.
    """

    def __init__(self) -> None:
        self._delivered: deque[int] = deque()
        self._acked: set[int] = set()

    def deliver(self, position: int) -> None:
        self._delivered.append(position)

    def ack(self, position: int) -> int | None:
        if position in self._acked or not self._delivered or position < self._delivered[0]:
            return None  # repeated or stale ack: nothing moves
        self._acked.add(position)
        last: int | None = None
        while self._delivered and self._delivered[0] in self._acked:
            last = self._delivered.popleft()
            self._acked.discard(last)
        return None if last is None else last + 1

    def __len__(self) -> int:
        """Records delivered and not yet part of the committed prefix."""
        return len(self._delivered)
