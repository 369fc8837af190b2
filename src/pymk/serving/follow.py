"""A server follows the online store's graph-delta log, so a separate ``pymk worker`` reaches it.

:class:`DeltaFollower` polls :meth:`~pymk.online.base.OnlineStore.deltas_since` every ``interval_s``
seconds (default 0.05) on a daemon thread and applies each delta to an in-process
:class:`~pymk.serving.exclusions.MemoryExclusions`: requests read process memory, never Redis (issue 5:
~43k req/s from memory against ~10k with a Redis round trip per request). A delta is dated when this
server *observed* it, not by its event time: the question the request path asks is "did this change
arrive after the list was computed", and a replayed stream's events may be years old.

Start: the whole log is read once (pages of ``page`` deltas) before :meth:`start` returns, so a server
restarted after deltas were applied still hides what changed since its lists were computed (pairs
already in the graph the lists were computed from are hidden again, harmlessly: the lists never held
them). Memory grows by one entry per side of each pair change and per deletion (``len(exclusions)``).

Freshness: an event is visible after the worker's batch (poll wait + apply) plus at most one
``interval_s``; a failing store is logged once per outage and retried every interval, serving goes on
with what it has. Measured (``benchmarks/freshness_e2e.py``, 2 cores, Redis, 1,000 users, 200 connects):
event ``XADD`` → both users' GETs changed p50 38 ms / p99 75 ms at 50 ms, 19 / 38 ms at 10 ms.

Why ``pymk worker`` does not recompute the touched users' lists instead: the model scores candidates
from its training snapshot and excludes by the graph as read when it was loaded, so a list recomputed
right after a connect holds the same candidates, minus the same now-connected users, that this
re-filtering serves (the stored list is read wider to keep ``k`` items) — and it costs ~5 ms per user
(tiny model, 1,000 users: a connect touches a median of 30 users, 151 ms; p99 429 ms), where a
5,000-record batch touches thousands, against a worker that applies 10^5 events/s. New candidates
(B's friends for A after A connects to B) come from the same followed connects, in the request path
(:mod:`pymk.serving.fresh_fof`: B's neighbours in the model's snapshot plus B's fresh connects).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from pymk.online.base import GraphDelta, OnlineStore
from pymk.serving.exclusions import MemoryExclusions

log = logging.getLogger(__name__)


class DeltaFollower:
    """Keeps ``exclusions`` up to date with ``online``'s delta log (see the module doc).

    ``seq`` is the last applied sequence number; ``users`` the users the log has named (actor or
    target): a user first seen in the stream is *known* even when no model or list has it yet.
    ``clock`` dates observed deltas (UNIX seconds). ``last_event_ts`` is the event time of the last
    applied delta and ``last_applied_at`` when it was applied (None before the first): the console's
    freshness panel.
    """

    def __init__(
        self,
        online: OnlineStore,
        exclusions: MemoryExclusions,
        *,
        interval_s: float = 0.05,
        page: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.online, self.exclusions = online, exclusions
        self.interval_s, self.page, self.clock = interval_s, page, clock
        self.seq = 0
        self.users: set[str] = set()
        self.applied = 0
        self.last_event_ts: float | None = None
        self.last_applied_at: float | None = None
        self._failing = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> int:
        """Apply every delta after :attr:`seq` now; the number applied. Raises ``ServiceUnavailable``."""
        total = 0
        while True:
            deltas = self.online.deltas_since(self.seq, self.page)
            if not deltas:
                return total
            self._apply(deltas)
            total += len(deltas)
            if len(deltas) < self.page:
                return total

    def _apply(self, deltas: list[GraphDelta]) -> None:
        at = self.clock()
        for d in deltas:
            self.exclusions.observe({"type": d.type, "actor": d.actor, "target": d.target}, at)
            self.users.add(d.actor)
            if d.target is not None:
                self.users.add(d.target)
            self.seq = d.seq
        self.applied += len(deltas)
        self.last_event_ts, self.last_applied_at = deltas[-1].ts, at

    def knows(self, user_id: str) -> bool:
        """Whether the online store knows ``user_id`` and it was not deleted: named by the delta log, or
        active in any event (a ``signup``, a ``profile_view``: one online-store read, then remembered).
        Asked only for users without a list, so the read is off the hot path."""
        if self.exclusions.deleted(user_id):
            return False
        if user_id in self.users:
            return True
        try:
            (features,) = self.online.user_features([user_id], self.clock())
        except Exception:  # unknown while the store is down: a 404, not a 500
            return False
        if features.last_active is None or features.deleted:
            return False
        self.users.add(user_id)
        return True

    def start(self) -> DeltaFollower:
        """Catch up with the whole log now (failures logged), then follow it on a daemon thread."""
        self._tick()
        self._thread = threading.Thread(target=self._run, name="pymk-delta-follow", daemon=True)
        self._thread.start()
        return self

    def _tick(self) -> None:
        try:
            self.poll()
        except Exception as exc:  # a Redis timeout as much as ServiceUnavailable: keep following
            if not self._failing:
                log.warning("cannot read the online store's delta log (retrying): %s", exc)
            self._failing = True
        else:
            if self._failing:
                log.info("reading the online store's delta log again at seq %d", self.seq)
            self._failing = False

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._tick()

    def close(self) -> None:
        """Stop following and close the online store."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.online.close()
