"""The one request path of the serving API, shared by the HTTP and gRPC entrypoints.

Validates ``k`` and batch sizes, looks lists up in the precomputed-list store and renders a response:
JSON bytes assembled around the stored item bytes (HTTP) or the :class:`StoredList` itself (gRPC builds
its messages from it). Every response names the model version and the time its list was computed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache

import orjson

from pymk.errors import InvalidInput, NotFound, PayloadTooLarge
from pymk.serving.lists import ListsInfo, ListStore, StoredList
from pymk.serving.recommender import MAX_K

DEFAULT_K = 20
MAX_BATCH = 1000
SOURCE_PRECOMPUTED = "precomputed"


def check_k(k: object) -> int:
    """``k`` as an int in 1..MAX_K; :class:`InvalidInput` (422) otherwise (booleans are not numbers)."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InvalidInput(f"k must be an integer in 1..{MAX_K}, got {k!r}")
    return k


@lru_cache(maxsize=4096)
def rfc3339(unix_seconds: float) -> str:
    """``2026-11-27T13:05:00.123Z``: UTC, milliseconds (cached: lists of one batch share their time)."""
    return datetime.fromtimestamp(unix_seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RecommendationService:
    """Answers recommendation requests from ``store``; ``max_batch`` caps users per batch request.

    At most every ``refresh_s`` seconds a request first asks the store to pick up newly committed lists
    (a ``pymk batch`` run in another process), so a server follows new lists without a restart.
    """

    def __init__(self, store: ListStore, *, max_batch: int = MAX_BATCH, refresh_s: float = 1.0) -> None:
        self.store = store
        self.max_batch = max_batch
        self.refresh_s = refresh_s
        self._next_refresh = time.monotonic() + refresh_s

    def _maybe_refresh(self) -> None:
        now = time.monotonic()
        if now >= self._next_refresh:
            self._next_refresh = now + self.refresh_s
            self.store.refresh()

    def ready(self) -> ListsInfo | None:
        """The loaded lists' commit, or None while there is nothing to serve."""
        self._maybe_refresh()
        return self.store.info()

    def one(self, user_id: str, k: int) -> StoredList:
        """The top-``k`` of ``user_id``: :class:`NotFound` without a list, :class:`InvalidInput` for bad k."""
        self._maybe_refresh()
        found = self.store.get(user_id, check_k(k))
        if found is None:
            raise NotFound(f"unknown user {user_id!r}")
        return found

    def batch(self, user_ids: Sequence[str], k: int) -> list[StoredList | NotFound]:
        """Per user, in request order, its list or the :class:`NotFound` it would raise alone."""
        if len(user_ids) > self.max_batch:
            raise PayloadTooLarge(f"at most {self.max_batch} users per batch, got {len(user_ids)}")
        self._maybe_refresh()
        found = self.store.get_many(user_ids, check_k(k))
        return [
            f if f is not None else NotFound(f"unknown user {u!r}")
            for u, f in zip(user_ids, found, strict=True)
        ]

    def one_json(self, user_id: str, k: int) -> bytes:
        """:meth:`one` as the JSON body of ``GET /v1/users/{user_id}/recommendations``."""
        return render(user_id, self.one(user_id, k))

    def batch_json(self, user_ids: Sequence[str], k: int) -> bytes:
        """:meth:`batch` as ``{"results": [...]}``; an unknown user's entry is ``{"user_id", "error"}``."""
        parts = [
            render(u, r) if isinstance(r, StoredList) else orjson.dumps({"user_id": u, "error": r.to_dict()})
            for u, r in zip(user_ids, self.batch(user_ids, k), strict=True)
        ]
        return b'{"results":[' + b",".join(parts) + b"]}"


def render(user_id: str, found: StoredList, source: str = SOURCE_PRECOMPUTED) -> bytes:
    """One recommendations object (DESIGN §5), the stored item bytes copied in unchanged."""
    head = orjson.dumps(
        {
            "user_id": user_id,
            "model_version": found.model_version,
            "generated_at": rfc3339(found.computed_at),
            "source": source,
        }
    )
    return head[:-1] + b',"items":[' + found.items_json + b"]}"
