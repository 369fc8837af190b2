"""Fresh state the serving path applies to lists computed earlier: who must no longer be shown to whom.

:class:`ExclusionSource` is all the request path asks: since a list was computed, which users became
connected to, blocked by (or blocking), or were deleted. :class:`MemoryExclusions` is the embedded
implementation, fed by :class:`~pymk.serving.follow.DeltaFollower` (the online store's graph-delta log,
so a separately running ``pymk worker`` reaches the server) or by a test.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol


class ExclusionSource(Protocol):
    """Changes since a time that make items of an earlier list wrong. Times are UNIX seconds (UTC)."""

    def hidden(self, user_id: str, since: float) -> frozenset[str]:
        """Users that must not be shown to ``user_id`` because of changes at or after ``since``:
        connected to it, blocked by it or blocking it, or deleted."""
        ...

    def deleted(self, user_id: str) -> bool:
        """Whether ``user_id`` was deleted (it gets no list at all)."""
        ...

    def connected(self, user_id: str, since: float) -> list[str]:
        """Users that connected with ``user_id`` at or after ``since`` and did not disconnect since,
        oldest first (each once): its fresh neighbours, which bring fresh candidates."""
        ...


class MemoryExclusions:
    """An in-process :class:`ExclusionSource`; thread-safe. Memory grows with the changes recorded, so a
    server would :meth:`forget` changes older than its oldest list (all lists are newer after a batch)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pairs: dict[str, list[tuple[float, str, str]]] = defaultdict(list)
        self._deleted: dict[str, float] = {}

    def connect(self, a: str, b: str, at: float) -> None:
        """``a`` and ``b`` connected at ``at``: neither is a suggestion for the other any more."""
        self._pair(a, b, at, "connect")

    def block(self, blocker: str, blocked: str, at: float) -> None:
        """``blocker`` blocked ``blocked``: hidden from each other in both directions."""
        self._pair(blocker, blocked, at, "block")

    def undo(self, a: str, b: str, kind: str) -> None:
        """Forget the pair's ``kind`` (``connect`` or ``block``) changes: a ``disconnect`` or ``unblock``.

        The pair may be shown again (if a list holds it); a change of the other kind still hides it.
        """
        with self._lock:
            for x, y in ((a, b), (b, a)):
                if x in self._pairs:
                    self._pairs[x] = [e for e in self._pairs[x] if not (e[1] == y and e[2] == kind)]

    def delete_user(self, user_id: str, at: float) -> None:
        """``user_id`` was deleted: shown to nobody, and it gets no list."""
        with self._lock:
            self._deleted.setdefault(user_id, at)

    def _pair(self, a: str, b: str, at: float, kind: str) -> None:
        with self._lock:
            self._pairs[a].append((at, b, kind))
            self._pairs[b].append((at, a, kind))

    def hidden(self, user_id: str, since: float) -> frozenset[str]:
        with self._lock:
            if not self._pairs and not self._deleted:
                return frozenset()
            out = {other for at, other, _ in self._pairs.get(user_id, ()) if at >= since}
            out.update(u for u, at in self._deleted.items() if at >= since)
        return frozenset(out)

    def deleted(self, user_id: str) -> bool:
        return user_id in self._deleted

    def connected(self, user_id: str, since: float) -> list[str]:
        with self._lock:
            found = [
                other for at, other, kind in self._pairs.get(user_id, ()) if kind == "connect" and at >= since
            ]
        return list(dict.fromkeys(found))

    def forget(self, before: float) -> None:
        """Drop pair changes older than ``before`` (deletions are final and kept)."""
        with self._lock:
            for user in list(self._pairs):
                kept = [e for e in self._pairs[user] if e[0] >= before]
                if kept:
                    self._pairs[user] = kept
                else:
                    del self._pairs[user]

    def observe(self, event: Mapping[str, Any], at: float | None = None) -> bool:
        """Apply one DESIGN §2 event dict (``connect``, ``disconnect``, ``block``, ``unblock``,
        ``delete_user``; others ignored), dated ``at`` (default: its ``ts``, UNIX seconds or RFC 3339).

        True when the event changed what is hidden.
        """
        kind, actor, target = event.get("type"), event.get("actor"), event.get("target")
        when = _seconds(event.get("ts")) if at is None else at
        if kind == "delete_user" and isinstance(actor, str):
            self.delete_user(actor, when)
        elif not (isinstance(actor, str) and isinstance(target, str)):
            return False
        elif kind in ("connect", "block"):
            self._pair(actor, target, when, kind)
        elif kind in _UNDOES:
            self.undo(actor, target, _UNDOES[kind])
        else:
            return False
        return True

    def __len__(self) -> int:
        """Pair changes held (each counted once per side) plus deletions: what memory grows with."""
        with self._lock:
            return sum(len(v) for v in self._pairs.values()) + len(self._deleted)


_UNDOES = {"disconnect": "connect", "unblock": "block"}


def _seconds(ts: object) -> float:
    if isinstance(ts, int | float) and not isinstance(ts, bool):
        return float(ts)
    if isinstance(ts, str):
        return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
    return time.time()
