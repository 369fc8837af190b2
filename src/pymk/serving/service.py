"""The one request path of the serving API, shared by the HTTP and gRPC entrypoints.

Validates ``k`` and batch sizes and answers each user in one of three modes (``serving_mode``):

- ``precomputed``: the stored list as it is (the fastest path: bytes copied from the store);
- ``hybrid`` (the default): the stored list re-filtered with fresh state, dropping users that the
  :class:`~pymk.serving.exclusions.ExclusionSource` says became connected, blocked or deleted since the
  list was computed, and adding the friends of its fresh connections (:mod:`~pymk.serving.fresh_fof`:
  after A connects to B, B's friends reach A's list). When the user's model version (the active one, or
  the A/B challenger) is not the one that computed the lists (a promote since the last ``pymk batch``),
  the model answers in real time instead, under the latency budget;
- ``realtime``: the model computes the list on request (:class:`~pymk.serving.recommender.Recommender`,
  the same code ``pymk batch`` runs), filtered the same way.

A real-time computation that does not finish within ``budget_s`` (or finds every real-time slot busy)
is answered from the precomputed list instead, with ``source: precomputed`` (counted in
:attr:`RecommendationService.late`); only a user without a list waits for the model. Every response names
the one model version that produced its items and the time they were computed.

A user with neither a list nor a place in the model is answered by ``cold_start`` when one is given
(:mod:`pymk.serving.coldstart`: a user first seen in the event stream gets the most recently active
users, minus whom it connected to or blocked), else 404.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal

import numpy as np
import orjson

from pymk.errors import InvalidInput, NotFound, PayloadTooLarge
from pymk.serving.batcher import RealtimeBatcher
from pymk.serving.exclusions import ExclusionSource
from pymk.serving.fresh_fof import SnapshotGraph, candidates, merge
from pymk.serving.lifecycle import LoadedModel, ModelSlot, Routing
from pymk.serving.lists import ListsInfo, ListStore, StoredList, encode_items
from pymk.serving.recommender import MAX_K, TopK

DEFAULT_K = 20
MAX_BATCH = 1000
SOURCE_PRECOMPUTED = "precomputed"
SOURCE_REALTIME = "realtime"
Mode = Literal["hybrid", "realtime", "precomputed"]
MODES: tuple[Mode, ...] = ("hybrid", "realtime", "precomputed")
_NO_ROUTING = Routing()
ColdStart = Callable[[str, int], "StoredList | None"]
"""``(user_id, k)`` -> a list for a user nobody computed one for, or None (the user is unknown)."""


def check_k(k: object) -> int:
    """``k`` as an int in 1..MAX_K; :class:`InvalidInput` (422) otherwise (booleans are not numbers)."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InvalidInput(f"k must be an integer in 1..{MAX_K}, got {k!r}")
    return k


@lru_cache(maxsize=4096)
def rfc3339(unix_seconds: float) -> str:
    """``2026-11-27T13:05:00.123Z``: UTC, milliseconds (cached: lists of one batch share their time)."""
    return datetime.fromtimestamp(unix_seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def without(found: StoredList, hidden: frozenset[str], k: int) -> StoredList:
    """``found`` without the items whose user id is in ``hidden``, cut to ``k`` (same source/version)."""
    dicts = found.item_dicts()
    keep = np.array([d["user_id"] not in hidden for d in dicts], dtype=bool)
    idx = np.flatnonzero(keep)[:k]
    return StoredList(
        found.model_version,
        found.computed_at,
        b",".join(orjson.dumps(dicts[i]) for i in idx.tolist()),
        found.items[idx],
        found.scores[idx],
        found.reasons[idx],
        found.reason_names,
        found.source,
    )


#: What :meth:`RecommendationService._answer_steps` yields (a real-time call), is sent and returns.
_Steps = Generator[
    tuple[LoadedModel, list[str], int, bool], list["StoredList | None"], list["StoredList | NotFound"]
]


def _consume(done: asyncio.Future[TopK]) -> None:
    """Retrieve an abandoned real-time result, so that a failure is not reported as never retrieved."""
    if not done.cancelled():
        done.exception()


def realtime_lists(model: LoadedModel, top: TopK, computed_at: float) -> list[StoredList | None]:
    """Each row of ``top`` (computed by ``model`` now) as a :class:`StoredList` with source realtime."""
    ids = model.user_ids
    out: list[StoredList | None] = []
    for row, (blob, _ends) in enumerate(encode_items(top, lambda i: [ids[x] for x in i.tolist()])):
        n = int((top.items[row] >= 0).sum())
        out.append(
            StoredList(
                model.version,
                computed_at,
                blob,
                top.items[row, :n],
                top.scores[row, :n],
                top.reasons[row, :n],
                top.reason_names,
                SOURCE_REALTIME,
            )
        )
    return out


class RecommendationService:
    """Answers recommendation requests; ``max_batch`` caps users per batch request.

    ``store``: the precomputed lists; at most every ``refresh_s`` seconds a request first asks it to pick
    up lists committed by another process (``pymk batch``). ``models``: the loaded model versions (None:
    lists only). ``exclusions``: fresh state (None: nothing changes after a list is computed).
    ``realtime_queue``: users that may wait for the real-time model at once (they are scored in batches by
    one :class:`~pymk.serving.batcher.RealtimeBatcher`, at most ``realtime_batch`` per model call); past
    that, lists answer.
    ``cold_start``: lists for users without one (see the module doc); ``closers``: called by
    :meth:`close` (background followers the composition root started).
    """

    def __init__(
        self,
        store: ListStore,
        *,
        max_batch: int = MAX_BATCH,
        refresh_s: float = 1.0,
        models: ModelSlot | None = None,
        exclusions: ExclusionSource | None = None,
        mode: Mode = "hybrid",
        budget_s: float = 0.05,
        realtime_queue: int = 256,
        realtime_batch: int = 64,
        cold_start: ColdStart | None = None,
        closers: Sequence[Callable[[], None]] = (),
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.store = store
        self.max_batch = max_batch
        self.refresh_s = refresh_s
        self.models = models
        self.exclusions = exclusions
        self.mode = mode
        self.budget_s = budget_s
        self.late = 0
        self.cold_start = cold_start
        self._closers = list(closers)
        self._batcher = RealtimeBatcher(max_users=realtime_batch, max_pending=realtime_queue)
        self._next_refresh = time.monotonic() + refresh_s

    def _maybe_refresh(self) -> None:
        now = time.monotonic()
        if now >= self._next_refresh:
            self._next_refresh = now + self.refresh_s
            self.store.refresh()

    def ready(self) -> ListsInfo | None:
        """The loaded lists' commit, or None while there is nothing to serve: no lists yet, or the
        registry names an active version that is not loaded yet (the first load at start)."""
        self._maybe_refresh()
        if self.models is not None and not self.models.loaded:
            return None
        return self.store.info()

    def model_versions(self) -> list[str]:
        """The loaded model versions, control first (empty without models)."""
        return [] if self.models is None else self.models.routing.versions

    def snapshots(self) -> list[dict[str, object]]:
        """Per loaded model version, control first: when the state it scores with was read (``as_of``,
        RFC 3339), how old that is (``age_s``) and the interactions its snapshot holds (``rows``; a
        snapshot refresh moves all three, see :mod:`pymk.serving.refresh`)."""
        if self.models is None:
            return []
        routing, now = self.models.routing, time.time()
        return [
            {
                "model_version": m.version,
                "as_of": rfc3339(m.as_of),
                "age_s": round(now - m.as_of, 3),
                "rows": m.rows,
            }
            for m in (routing.control, routing.challenger)
            if m is not None
        ]

    def one(self, user_id: str, k: int) -> StoredList:
        """The top-``k`` of ``user_id``: :class:`NotFound` without a list, :class:`InvalidInput` for bad k."""
        (found,) = self._answer([user_id], check_k(k))
        if isinstance(found, NotFound):
            raise found
        return found

    def batch(self, user_ids: Sequence[str], k: int) -> list[StoredList | NotFound]:
        """Per user, in request order, its list or the :class:`NotFound` it would raise alone."""
        if len(user_ids) > self.max_batch:
            raise PayloadTooLarge(f"at most {self.max_batch} users per batch, got {len(user_ids)}")
        return self._answer(user_ids, check_k(k))

    async def one_async(self, user_id: str, k: int) -> StoredList:
        """:meth:`one` for an event loop: waiting for the real-time model does not block the loop (nor
        take a thread), so the requests of one loop that wait together are scored in one batch."""
        (found,) = await self._answer_async([user_id], check_k(k))
        if isinstance(found, NotFound):
            raise found
        return found

    async def batch_async(self, user_ids: Sequence[str], k: int) -> list[StoredList | NotFound]:
        """:meth:`batch` for an event loop (see :meth:`one_async`)."""
        if len(user_ids) > self.max_batch:
            raise PayloadTooLarge(f"at most {self.max_batch} users per batch, got {len(user_ids)}")
        return await self._answer_async(user_ids, check_k(k))

    def _answer(self, user_ids: Sequence[str], k: int) -> list[StoredList | NotFound]:
        steps = self._answer_steps(user_ids, k)
        try:
            ask = next(steps)
            while True:
                ask = steps.send(self._realtime(*ask))
        except StopIteration as done:
            answer: list[StoredList | NotFound] = done.value
            return answer

    async def _answer_async(self, user_ids: Sequence[str], k: int) -> list[StoredList | NotFound]:
        steps = self._answer_steps(user_ids, k)
        try:
            ask = next(steps)
            while True:
                ask = steps.send(await self._realtime_async(*ask))
        except StopIteration as done:
            answer: list[StoredList | NotFound] = done.value
            return answer

    def _answer_steps(self, user_ids: Sequence[str], k: int) -> _Steps:
        """The answer to a request, as a generator that yields each real-time model call it needs
        (``(model, users, k, fallback)``) and is sent back its lists: one logic for the blocking
        :meth:`_answer` and the event-loop :meth:`_answer_async`."""
        self._maybe_refresh()
        if self.mode == "precomputed":
            lists = (
                self.store.get_many(user_ids, k) if len(user_ids) != 1 else [self.store.get(user_ids[0], k)]
            )
            return [f if f is not None else self._cold(u, k) for u, f in zip(user_ids, lists, strict=True)]
        routing = self.models.routing if self.models is not None else _NO_ROUTING  # one view per request
        ex = self.exclusions
        stored = self.store.get_many(user_ids, k)
        out: list[StoredList | NotFound | None] = []
        routed: list[LoadedModel | None] = []
        want: dict[str, list[int]] = {}  # model version -> positions the model answers in real time
        models: dict[str, LoadedModel] = {}
        for pos, (user, found) in enumerate(zip(user_ids, stored, strict=True)):
            if ex is not None and ex.deleted(user):
                out.append(_unknown(user))
                routed.append(None)
                continue
            model = routing.model_for(user)
            routed.append(model)
            if model is not None and user in model.index:
                if self.mode == "realtime" or found is None or found.model_version != model.version:
                    want.setdefault(model.version, []).append(pos)
                    models[model.version] = model
            out.append(found)
        for version, positions in want.items():
            users = [user_ids[p] for p in positions]
            fallback = all(stored[p] is not None for p in positions)
            computed = yield models[version], users, k, fallback
            for p, lst in zip(positions, computed, strict=True):
                if lst is not None:
                    out[p] = lst
        return [
            self._fresh(u, f, k, m) if isinstance(f, StoredList) else f if f is not None else self._cold(u, k)
            for u, f, m in zip(user_ids, out, routed, strict=True)
        ]

    def _cold(self, user: str, k: int) -> StoredList | NotFound:
        """The cold-start list of ``user`` without whom it must not see, or :class:`NotFound`."""
        if self.cold_start is None:
            return _unknown(user)
        hidden = {user}
        if self.exclusions is not None:
            hidden |= self.exclusions.hidden(user, 0.0)
        found = self.cold_start(user, min(MAX_K, k + len(hidden)))
        return _unknown(user) if found is None else without(found, frozenset(hidden), k)

    def _fresh(self, user: str, found: StoredList, k: int, model: LoadedModel | None) -> StoredList:
        """``found`` minus what changed since it was computed (re-read wider when items drop out), plus
        the friends of ``user``'s fresh neighbours in ``model``'s graph (:mod:`pymk.serving.fresh_fof`)."""
        if self.exclusions is None:
            return found
        hidden = self.exclusions.hidden(user, found.computed_at)
        if not hidden:
            return found
        if found.source == SOURCE_PRECOMPUTED and len(found) == k < MAX_K:
            wider = self.store.get(user, min(MAX_K, k + len(hidden)))
            if wider is not None and wider.model_version == found.model_version:
                found = wider
        kept = without(found, hidden, k)
        shown = {d["user_id"] for d in kept.item_dicts()}
        fresh = candidates(user, found.computed_at, self.exclusions, SnapshotGraph.of(model), shown)
        return merge(kept, fresh, k)

    def _submit(
        self, model: LoadedModel, users: list[str], k: int
    ) -> tuple[Future[TopK] | None, np.ndarray, int, float]:
        """Queue ``users`` for ``model``'s batcher: ``(future or None when the queue is full, their
        indices, the width asked, when)``; the width covers what fresh state will hide."""
        extra = 0
        if self.exclusions is not None:
            extra = max(len(self.exclusions.hidden(u, model.as_of)) for u in users)
        index = np.array([model.index[u] for u in users], dtype=np.int64)
        width = min(MAX_K, k + extra)
        started = time.time()
        return self._batcher.submit(model.recommender, index, width), index, width, started

    def _realtime(
        self, model: LoadedModel, users: list[str], k: int, fallback: bool
    ) -> list[StoredList | None]:
        """The model's lists for ``users``; with ``fallback`` (they all have stored lists) only within the
        budget and while the real-time queue has room, else None for each (the stored lists answer)."""
        future, index, width, started = self._submit(model, users, k)
        if future is None:  # too many waiting already
            if fallback:
                self.late += 1
                return [None] * len(users)
            return realtime_lists(model, model.recommender.recommend(index, width), started)
        try:
            top = future.result(timeout=self.budget_s if fallback else None)
        except FutureTimeout:
            future.cancel()  # still queued: the batcher drops it (no work for an answer nobody waits for)
            self.late += 1
            return [None] * len(users)
        return realtime_lists(model, top, started)

    async def _realtime_async(
        self, model: LoadedModel, users: list[str], k: int, fallback: bool
    ) -> list[StoredList | None]:
        """:meth:`_realtime` awaiting the batcher instead of blocking on it."""
        future, index, width, started = self._submit(model, users, k)
        if future is None:
            if fallback:
                self.late += 1
                return [None] * len(users)
            top = await asyncio.to_thread(model.recommender.recommend, index, width)
            return realtime_lists(model, top, started)
        waiting = asyncio.wrap_future(future)
        done, _ = await asyncio.wait({waiting}, timeout=self.budget_s if fallback else None)
        if not done:  # past the budget: the lists answer; the batch's result is dropped when it comes
            waiting.add_done_callback(_consume)
            future.cancel()  # still queued: the batcher drops it
            self.late += 1
            return [None] * len(users)
        return realtime_lists(model, waiting.result(), started)

    def close(self) -> None:
        """Stop the real-time workers, the model poller and the ``closers``."""
        self._batcher.close()
        for close in self._closers:
            close()
        if self.models is not None:
            self.models.close()

    def one_json(self, user_id: str, k: int, request_id: str | None = None) -> bytes:
        """:meth:`one` as the JSON body of ``GET /v1/users/{user_id}/recommendations``."""
        return render(user_id, self.one(user_id, k), request_id)

    def batch_json(self, user_ids: Sequence[str], k: int, request_id: str | None = None) -> bytes:
        """:meth:`batch` as ``{"results": [...]}``; an unknown user's entry is ``{"user_id", "error"}``;
        with ``request_id`` every list carries it (one id for the whole request)."""
        parts = [
            render(u, r, request_id)
            if isinstance(r, StoredList)
            else orjson.dumps({"user_id": u, "error": r.to_dict()})
            for u, r in zip(user_ids, self.batch(user_ids, k), strict=True)
        ]
        return b'{"results":[' + b",".join(parts) + b"]}"


def _unknown(user_id: str) -> NotFound:
    return NotFound(f"unknown user {user_id!r}")


def render(user_id: str, found: StoredList, request_id: str | None = None) -> bytes:
    """One recommendations object (DESIGN §5), the stored item bytes copied in unchanged.

    With ``request_id`` the object carries ``"request_id"`` (after ``source``, before ``items``): the id
    a client echoes in the ``impression``/``click`` events of this list (see :mod:`pymk.monitoring.ctr`).
    """
    head: dict[str, str] = {
        "user_id": user_id,
        "model_version": found.model_version,
        "generated_at": rfc3339(found.computed_at),
        "source": found.source,
    }
    if request_id is not None:
        head["request_id"] = request_id
    return orjson.dumps(head)[:-1] + b',"items":[' + found.items_json + b"]}"
