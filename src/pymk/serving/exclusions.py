"""Fresh state the serving path applies to lists computed earlier: who must no longer be shown to whom.

:class:`ExclusionSource` is all the request path asks: since a list was computed, which users became
connected to, blocked by (or blocking), or were deleted. :class:`MemoryExclusions` is the embedded
implementation, fed by the server (or a test) as events arrive; one over the online store plugs in behind
the same two methods.
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


class MemoryExclusions:
    """An in-process :class:`ExclusionSource`; thread-safe. Memory grows with the changes recorded, so a
    server would :meth:`forget` changes older than its oldest list (all lists are newer after a batch)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pairs: dict[str, list[tuple[float, str]]] = defaultdict(list)
        self._deleted: dict[str, float] = {}

    def connect(self, a: str, b: str, at: float) -> None:
        """``a`` and ``b`` connected at ``at``: neither is a suggestion for the other any more."""
        self._pair(a, b, at)

    def block(self, blocker: str, blocked: str, at: float) -> None:
        """``blocker`` blocked ``blocked``: hidden from each other in both directions."""
        self._pair(blocker, blocked, at)

    def delete_user(self, user_id: str, at: float) -> None:
        """``user_id`` was deleted: shown to nobody, and it gets no list."""
        with self._lock:
            self._deleted.setdefault(user_id, at)

    def _pair(self, a: str, b: str, at: float) -> None:
        with self._lock:
            self._pairs[a].append((at, b))
            self._pairs[b].append((at, a))

    def hidden(self, user_id: str, since: float) -> frozenset[str]:
        with self._lock:
            if not self._pairs and not self._deleted:
                return frozenset()
            out = {other for at, other in self._pairs.get(user_id, ()) if at >= since}
            out.update(u for u, at in self._deleted.items() if at >= since)
        return frozenset(out)

    def deleted(self, user_id: str) -> bool:
        return user_id in self._deleted

    def forget(self, before: float) -> None:
        """Drop pair changes older than ``before`` (deletions are final and kept)."""
        with self._lock:
            for user in list(self._pairs):
                kept = [(at, o) for at, o in self._pairs[user] if at >= before]
                if kept:
                    self._pairs[user] = kept
                else:
                    del self._pairs[user]

    def observe(self, event: Mapping[str, Any]) -> bool:
        """Apply one DESIGN §2 event dict (``connect``, ``block``, ``delete_user``; others ignored).

        ``ts`` is UNIX seconds or RFC 3339; True when the event changed what is hidden.
        """
        kind, actor, target = event.get("type"), event.get("actor"), event.get("target")
        at = _seconds(event.get("ts"))
        if kind == "delete_user" and isinstance(actor, str):
            self.delete_user(actor, at)
        elif kind in ("connect", "block") and isinstance(actor, str) and isinstance(target, str):
            self._pair(actor, target, at)
        else:
            return False
        return True


def _seconds(ts: object) -> float:
    if isinstance(ts, int | float) and not isinstance(ts, bool):
        return float(ts)
    if isinstance(ts, str):
        return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
    return time.time()
