"""Redis precomputed-list store: one key per user, pipelined writes, single-key commands only.

Keys (``prefix`` defaults to ``pymk:``): ``{prefix}list:{user_id}`` holds one user's list as one binary
value; ``{prefix}list-meta`` holds the last commit as JSON. Only single-key commands are used (GET, SET,
pipelines without transactions), so the keys spread over the slots of a Redis Cluster and a cluster
pipeline splits the writes per node.

Value layout (little-endian): ``u32 header length``, header JSON ``{"v": model version, "t": computed_at,
"n": items, "r": reason names}``, int32 ``items[n]``, float32 ``scores[n]``, float32 ``reasons[n, r]``,
uint32 ``ends[n]`` (item end offsets in the JSON), then the items JSON.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from pymk.serving.lists import ListsInfo, StoredList, encode_items
from pymk.serving.recommender import MAX_K, TopK

if TYPE_CHECKING:
    import redis

_HEADER = struct.Struct("<I")


def pack(model_version: str, computed_at: float, top: TopK, row: int, blob: bytes, ends: np.ndarray) -> bytes:
    """The value of row ``row`` of ``top`` (see the module docstring)."""
    n = len(ends)
    head = orjson.dumps({"v": model_version, "t": computed_at, "n": n, "r": list(top.reason_names)})
    return b"".join(
        (
            _HEADER.pack(len(head)),
            head,
            np.ascontiguousarray(top.items[row, :n], dtype="<i4").tobytes(),
            np.ascontiguousarray(top.scores[row, :n], dtype="<f4").tobytes(),
            np.ascontiguousarray(top.reasons[row, :n], dtype="<f4").tobytes(),
            np.ascontiguousarray(ends, dtype="<u4").tobytes(),
            blob,
        )
    )


def unpack(value: bytes, k: int) -> StoredList:
    """The first ``k`` items of a value :func:`pack` wrote."""
    (size,) = _HEADER.unpack_from(value)
    head: dict[str, Any] = orjson.loads(value[4 : 4 + size])
    n, names = int(head["n"]), tuple(head["r"])
    r = len(names)
    at = 4 + size
    items = np.frombuffer(value, "<i4", n, at)
    scores = np.frombuffer(value, "<f4", n, at + 4 * n)
    reasons = np.frombuffer(value, "<f4", n * r, at + 8 * n).reshape(n, r)
    ends = np.frombuffer(value, "<u4", n, at + 8 * n + 4 * n * r)
    json_at = at + 12 * n + 4 * n * r
    m = min(k, n)
    blob = value[json_at : json_at + int(ends[m - 1])] if m else b""
    return StoredList(head["v"], float(head["t"]), blob, items[:m], scores[:m], reasons[:m], names)


class RedisListWriter:
    """Pipelines one SET per user (``chunk`` users per round trip); :meth:`commit` writes the meta key."""

    def __init__(self, store: RedisListStore, model_version: str, user_ids: Sequence[str], k: int) -> None:
        if not 1 <= k <= MAX_K:
            raise ValueError(f"k must be in 1..{MAX_K}, got {k}")
        self.store, self.model_version, self.k = store, model_version, k
        self.user_ids = list(user_ids)
        self.written = 0
        self.done = False

    def write(self, users: np.ndarray, top: TopK, computed_at: float) -> None:
        """Store the lists of ``users`` (internal indices into ``user_ids``)."""
        if top.k > self.k:
            raise ValueError(f"lists of width {top.k} do not fit a store of width {self.k}")
        ids = self.user_ids
        encoded = encode_items(top, lambda i: [ids[x] for x in i.tolist()])
        pipe = self.store.client.pipeline(transaction=False)
        for row, (user, (blob, ends)) in enumerate(zip(np.asarray(users).tolist(), encoded, strict=True)):
            pipe.set(self.store.key(ids[user]), pack(self.model_version, computed_at, top, row, blob, ends))
            if (row + 1) % self.store.chunk == 0:
                pipe.execute()
        pipe.execute()
        self.written += len(encoded)

    def commit(self) -> ListsInfo:
        info = ListsInfo(self.model_version, self.k, self.written, time.time())
        self.store.client.set(self.store.meta_key, orjson.dumps(info.__dict__))
        self.done = True
        return info

    def __enter__(self) -> RedisListWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # Lists already written stay (they are complete per user); only a clean exit commits.
        if kind is None and not self.done:
            self.commit()


class RedisListStore:
    """:class:`~pymk.serving.lists.ListStore` on Redis (or Redis Cluster through a cluster client)."""

    def __init__(self, client: redis.Redis, prefix: str = "pymk:", chunk: int = 1000) -> None:
        self.client, self.prefix, self.chunk = client, prefix, chunk
        self.meta_key = f"{prefix}list-meta"

    def key(self, user_id: str) -> str:
        """The key of ``user_id``'s list."""
        return f"{self.prefix}list:{user_id}"

    def writer(self, model_version: str, user_ids: Sequence[str], k: int) -> RedisListWriter:
        return RedisListWriter(self, model_version, user_ids, k)

    def get(self, user_id: str, k: int) -> StoredList | None:
        value = self.client.get(self.key(user_id))
        return unpack(value, k) if value is not None else None  # type: ignore[arg-type]

    def get_many(self, user_ids: Sequence[str], k: int) -> list[StoredList | None]:
        pipe = self.client.pipeline(transaction=False)
        for u in user_ids:
            pipe.get(self.key(u))
        return [unpack(v, k) if v is not None else None for v in pipe.execute()]

    def info(self) -> ListsInfo | None:
        value = self.client.get(self.meta_key)
        if value is None:
            return None
        meta = orjson.loads(value)
        return ListsInfo(meta["model_version"], int(meta["k"]), int(meta["users"]), meta["committed_at"])

    def refresh(self) -> bool:
        """Always False: every read sees the latest value of its key."""
        return False

    def close(self) -> None:
        self.client.close()
