"""The precomputed-list store contract: top-k lists per user, written in batches, read per request.

Each stored list keeps its internal item indices, scores and reasons (for re-filtering and re-ranking
with fresh state) and the same items pre-serialised as JSON (so the HTTP path copies bytes instead of
encoding), plus the UNIX time it was computed and the model version that computed it. Implementations:
:mod:`pymk.serving.lists_mmap` (embedded, memory-mapped files under ``PYMK_HOME``) and
:mod:`pymk.serving.lists_redis` (one key per user).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

import numpy as np
import orjson

from pymk.serving.recommender import TopK

Decode = Callable[[np.ndarray], list[str]]
"""Internal indices (int array) -> external user ids."""


@dataclass(frozen=True)
class StoredList:
    """One user's list, cut to the ``k`` asked for (fewer items when fewer were stored).

    ``items_json`` is the items as JSON objects ``{"user_id", "score", "reasons"}`` joined by commas,
    without the enclosing brackets; ``items``/``scores``/``reasons`` are the same items as arrays
    (int32 ``(n,)``, float32 ``(n,)``, float32 ``(n, len(reason_names))``, NaN = no such reason; read-only
    views of the store, copy before changing them).
    ``computed_at`` is UNIX seconds (UTC). ``source`` is what the API reports: ``precomputed`` for a
    stored list (re-filtered or not), ``realtime`` for one the model computed for this request.
    """

    model_version: str
    computed_at: float
    items_json: bytes
    items: np.ndarray
    scores: np.ndarray
    reasons: np.ndarray
    reason_names: tuple[str, ...]
    source: str = "precomputed"

    def __len__(self) -> int:
        return int(self.items.shape[0])

    def item_dicts(self) -> list[dict[str, Any]]:
        """The items as parsed JSON objects (the exact values the HTTP API returns)."""
        parsed: list[dict[str, Any]] = orjson.loads(b"[" + self.items_json + b"]")
        return parsed


@dataclass(frozen=True)
class ListsInfo:
    """What a committed write left: the model version, list width, users written, commit time (UNIX s)."""

    model_version: str
    k: int
    users: int
    committed_at: float


class ListWriter(Protocol):
    """Writes lists of one model version; a context manager that commits on clean exit.

    Lists written before :meth:`commit` may stay invisible until it (embedded) or become visible one user
    at a time (Redis); :meth:`ListStore.info` changes only on commit.
    """

    def write(self, users: np.ndarray, top: TopK, computed_at: float) -> None:
        """Store the lists of ``users`` (int ``(b,)`` internal indices), replacing earlier ones."""
        ...

    def commit(self) -> ListsInfo:
        """Make the written lists the store's current ones."""
        ...

    def __enter__(self) -> ListWriter: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class ListStore(Protocol):
    """Precomputed top-k lists keyed by external user id."""

    def writer(self, model_version: str, user_ids: Sequence[str], k: int) -> ListWriter:
        """A writer for lists of width ``k``; ``user_ids[i]`` is the external id of internal index ``i``."""
        ...

    def get(self, user_id: str, k: int) -> StoredList | None:
        """The first ``k`` items of ``user_id``'s list, or None when the user has no list."""
        ...

    def get_many(self, user_ids: Sequence[str], k: int) -> list[StoredList | None]:
        """:meth:`get` for each of ``user_ids``, in order (one round trip where the backend allows)."""
        ...

    def info(self) -> ListsInfo | None:
        """The last commit, or None when nothing was ever committed (the server is not ready)."""
        ...

    def refresh(self) -> bool:
        """Pick up lists committed by another process; True when what :meth:`get` serves changed.

        Requests already in flight finish on the lists they started with.
        """
        ...

    def close(self) -> None:
        """Release files or connections."""
        ...


def encode_items(top: TopK, decode: Decode) -> list[tuple[bytes, np.ndarray]]:
    """Per row of ``top``: the items' JSON (comma-joined objects) and uint32 end offsets of each item.

    Item ``j`` of a row is ``blob[ends[j-1] + 1 if j else 0 : ends[j]]``; the first ``m`` items are
    ``blob[:ends[m-1]]``. Scores are written as the shortest decimal that reads back as the float32.
    """
    counts = top.counts()
    names = top.reason_names
    option = orjson.OPT_SERIALIZE_NUMPY
    out: list[tuple[bytes, np.ndarray]] = []
    for row, n in enumerate(counts.tolist()):
        ids = decode(top.items[row, :n])
        values = top.reasons[row, :n]
        parts: list[bytes] = []
        for j in range(n):
            reasons: dict[str, int | float] = {}
            for r, name in enumerate(names):
                v = float(values[j, r])
                if v == v:  # NaN: the reason does not apply
                    reasons[name] = int(v) if v.is_integer() else values[j, r]
            parts.append(
                orjson.dumps(
                    {"user_id": ids[j], "score": top.scores[row, j], "reasons": reasons}, option=option
                )
            )
        lengths = np.fromiter((len(p) for p in parts), dtype=np.int64, count=n)
        ends = np.cumsum(lengths + 1) - 1 if n else lengths
        out.append((b",".join(parts), ends.astype(np.uint32)))
    return out
