"""In-process online store (the embedded default): the operations of :mod:`pymk.online.plan` on dicts.

Thread-safe (one lock). State is lost with the process: the embedded worker and server share one
process, or a restarted worker rebuilds it by replaying the stream.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Sequence

from pymk.events.schema import Event
from pymk.online.base import (
    BUCKET_SECONDS,
    DEDUPE_HORIZON,
    KEEP_BUCKETS,
    GraphDelta,
    PairFeatures,
    UserFeatures,
    edge_on,
    parse_ts,
    summarise_counts,
)
from pymk.online.plan import DELTAS, Unit, bucket_of, pair_key, plan

Hash = dict[str, str]


class MemoryOnlineStore:
    """:class:`~pymk.online.base.OnlineStore` in process memory."""

    def __init__(
        self,
        *,
        bucket_seconds: int = BUCKET_SECONDS,
        keep_buckets: int = KEEP_BUCKETS,
        dedupe_horizon: float = DEDUPE_HORIZON,
    ) -> None:
        self._bucket, self._keep, self._horizon = bucket_seconds, keep_buckets, dedupe_horizon
        self._slots: dict[str, dict[str, Hash]] = {}
        self._applied: dict[str, dict[str, float]] = {}
        self._applied_order: dict[str, deque[tuple[float, str]]] = {}
        self._log: list[GraphDelta] = []
        self._lock = threading.Lock()

    def _hash(self, slot: str, key: str) -> Hash:
        return self._slots.setdefault(slot, {}).setdefault(key, {})

    def _peek(self, slot: str, key: str) -> Hash:
        return self._slots.get(slot, {}).get(key, {})

    def _neighbours(self, user: str) -> list[str]:
        return sorted(set(self._peek(user, "adj")) | set(self._peek(user, "partners")))

    def apply(self, events: Sequence[Event], *, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._lock:
            for event in events:
                users = (event.actor, event.target)
                if any(u is not None and "deleted" in self._peek(u, "meta") for u in users):
                    continue
                for unit in plan(event, self._bucket, self._neighbours):
                    self._run(unit, now)

    def _seen(self, slot: str, event_id: str, now: float) -> bool:
        applied = self._applied.setdefault(slot, {})
        order = self._applied_order.setdefault(slot, deque())
        while order and order[0][0] < now - self._horizon:
            applied.pop(order.popleft()[1], None)
        if event_id in applied:
            return True
        applied[event_id] = now
        order.append((now, event_id))
        return False

    def _run(self, unit: Unit, now: float) -> None:
        slot = unit.slot
        if self._seen(slot, unit.event_id, now) or (slot != DELTAS and "deleted" in self._peek(slot, "meta")):
            return
        for op, key, name, value in unit.ops:
            if op == "append":
                self._log.append(GraphDelta(seq=len(self._log) + 1, **json.loads(value)))
            elif op == "del":
                self._slots.get(slot, {}).pop(key, None)
            elif op == "count":
                self._count(slot, name, int(value))
            else:
                self._set(slot, op, self._hash(slot, key), name, value)

    def _set(self, slot: str, op: str, h: Hash, name: str, value: str) -> None:
        current = h.get(name)
        if op == "incr":
            h[name] = str(int(current or 0) + int(value))
        elif op == "max":
            if current is None or float(current) < float(value):
                h[name] = value
        elif op in ("edge", "lww"):
            if current is None or float(current[2:]) <= float(value[2:]):
                h[name] = value
                was, now_on = edge_on(current), edge_on(value)
                if op == "edge" and was != now_on:
                    meta = self._hash(slot, "meta")
                    meta["degree"] = str(int(meta.get("degree", 0)) + (1 if now_on else -1))
        elif op in ("sadd", "hset"):
            h[name] = value
        elif op in ("srem", "hdel"):
            h.pop(name, None)
        else:
            raise ValueError(f"unknown online-store operation {op!r}")

    def _count(self, slot: str, name: str, bucket: int) -> None:
        meta, counts = self._hash(slot, "meta"), self._hash(slot, "counts")
        top = meta.get("max_bucket")
        if top is None or bucket > int(top):
            meta["max_bucket"] = str(bucket)
            if top is not None:
                for stale in [f for f in counts if bucket_of(f) <= bucket - self._keep]:
                    del counts[stale]
            newest = bucket
        else:
            newest = int(top)
        if bucket > newest - self._keep:
            field = f"{name}:{bucket}"
            counts[field] = str(int(counts.get(field, 0)) + 1)

    def user_features(self, users: Sequence[str], now: float) -> list[UserFeatures]:
        with self._lock:
            out = []
            for user in users:
                meta = self._peek(user, "meta")
                counts = {f: int(v) for f, v in self._peek(user, "counts").items()}
                out.append(
                    UserFeatures(
                        user=user,
                        degree=int(meta.get("degree", 0)),
                        last_active=parse_ts(meta.get("last_active")),
                        counts=summarise_counts(counts, now),
                        deleted="deleted" in meta,
                    )
                )
            return out

    def pair_features(self, pairs: Sequence[tuple[str, str]]) -> list[PairFeatures]:
        with self._lock:
            out = []
            for x, y in pairs:
                a, b = sorted((x, y))
                record = dict(self._peek(a, pair_key(b)))
                last = parse_ts(record.pop("last_ts", None))
                counts = {k: int(v) for k, v in record.items()}
                blocked = edge_on(self._peek(a, "blocks").get(b)) or edge_on(self._peek(b, "blocks").get(a))
                out.append(PairFeatures(a, b, counts, last, edge_on(self._peek(a, "adj").get(b)), blocked))
            return out

    def deltas_since(self, seq: int, limit: int = 10_000) -> list[GraphDelta]:
        with self._lock:
            return self._log[max(seq, 0) : max(seq, 0) + limit]

    def last_seq(self) -> int:
        return len(self._log)

    def close(self) -> None:
        """Nothing to release."""
