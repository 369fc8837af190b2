"""Redis online store (production): ``redis://host:port/db?prefix=pymk:online:``.

Key layout, Redis Cluster-friendly: every structure of a user lives under the hash tag of that user,
``<prefix>{u:<id>}:<name>`` (``counts``, ``meta``, ``adj``, ``blocks``, ``partners``, ``pair:<other>``,
``applied``), the delta log under ``<prefix>{d}:`` (``log`` stream with ids ``<seq>-0``, ``seq``,
``applied``). ``{``, ``}`` and ``%`` in ids are %-escaped so an id cannot break its tag.

Each unit of :mod:`pymk.online.plan` is one call of one Lua script on one slot, atomic, recorded in the
slot's ``applied`` sorted set (event id → processing time, trimmed to the dedupe horizon) so it runs at
most once per event id. A batch is one pipeline of those calls (chunked); reads are pipelined too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from typing import Any

import redis

from pymk.errors import ServiceUnavailable
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
from pymk.online.plan import DELTAS, Unit, pair_key, plan, split_at_deletes

#: Units per pipeline round trip.
_CHUNK = 5_000

_APPLY = """
local applied, meta = KEYS[1], KEYS[2]
if redis.call('ZSCORE', applied, ARGV[1]) then return 0 end
redis.call('ZADD', applied, ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', applied, '-inf', '(' .. (tonumber(ARGV[2]) - tonumber(ARGV[3])))
if ARGV[5] == 'u' and redis.call('HEXISTS', meta, 'deleted') == 1 then return 0 end
local keep = tonumber(ARGV[4])
for i = 6, #ARGV, 4 do
  local op, key, f, v = ARGV[i], KEYS[tonumber(ARGV[i + 1])], ARGV[i + 2], ARGV[i + 3]
  if op == 'count' then
    local b = tonumber(v)
    local top = redis.call('HGET', meta, 'max_bucket')
    local newest = b
    if (not top) or b > tonumber(top) then
      redis.call('HSET', meta, 'max_bucket', v)
      if top then
        for _, name in ipairs(redis.call('HKEYS', key)) do
          if tonumber(string.match(name, ':(%d+)$')) <= b - keep then redis.call('HDEL', key, name) end
        end
      end
    else
      newest = tonumber(top)
    end
    if b > newest - keep then redis.call('HINCRBY', key, f .. ':' .. v, 1) end
  elseif op == 'incr' then
    redis.call('HINCRBY', key, f, v)
  elseif op == 'max' then
    local cur = redis.call('HGET', key, f)
    if (not cur) or tonumber(cur) < tonumber(v) then redis.call('HSET', key, f, v) end
  elseif op == 'edge' or op == 'lww' then
    local cur = redis.call('HGET', key, f)
    if (not cur) or tonumber(string.sub(cur, 3)) <= tonumber(string.sub(v, 3)) then
      redis.call('HSET', key, f, v)
      local was = (cur ~= false and cur ~= nil) and string.sub(cur, 1, 1) == '1'
      local now_on = string.sub(v, 1, 1) == '1'
      if op == 'edge' and was ~= now_on then redis.call('HINCRBY', meta, 'degree', now_on and 1 or -1) end
    end
  elseif op == 'sadd' then
    redis.call('SADD', key, f)
  elseif op == 'srem' then
    redis.call('SREM', key, f)
  elseif op == 'hset' then
    redis.call('HSET', key, f, v)
  elseif op == 'del' then
    redis.call('DEL', key)
  elseif op == 'append' then
    local seq = redis.call('INCR', key)
    redis.call('XADD', KEYS[tonumber(f)], seq .. '-0', 'd', v)
  end
end
return 1
"""


def _escape(user: str) -> str:
    return user.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisOnlineStore:
    """:class:`~pymk.online.base.OnlineStore` in Redis (see the module docstring)."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "pymk:online:",
        bucket_seconds: int = BUCKET_SECONDS,
        keep_buckets: int = KEEP_BUCKETS,
        dedupe_horizon: float = DEDUPE_HORIZON,
    ) -> None:
        self._client, self._prefix = client, prefix
        self._bucket, self._keep, self._horizon = bucket_seconds, keep_buckets, dedupe_horizon
        self._script = client.register_script(_APPLY)

    def key(self, slot: str, name: str) -> str:
        """The Redis key of structure ``name`` of ``slot`` (a user id, or the delta log's slot)."""
        tag = "d" if slot == DELTAS else f"u:{_escape(slot)}"
        return f"{self._prefix}{{{tag}}}:{name}"

    def _execute(self, pipe: Any) -> list[Any]:
        try:
            return list(pipe.execute())
        except redis.ConnectionError as exc:
            raise ServiceUnavailable(f"cannot reach Redis: {exc}") from exc

    def _deleted(self, users: Sequence[str]) -> set[str]:
        pipe = self._client.pipeline(transaction=False)
        for user in users:
            pipe.hexists(self.key(user, "meta"), "deleted")
        return {u for u, gone in zip(users, self._execute(pipe), strict=True) if gone}

    def _neighbours(self, user: str) -> list[str]:
        pipe = self._client.pipeline(transaction=False)
        pipe.hkeys(self.key(user, "adj"))
        pipe.smembers(self.key(user, "partners"))
        adj, partners = self._execute(pipe)
        return sorted({_text(u) for u in adj} | {_text(u) for u in partners})

    def apply(self, events: Sequence[Event], *, now: float | None = None) -> None:
        now = time.time() if now is None else now
        for run in split_at_deletes(events):
            users = sorted({u for e in run for u in (e.actor, e.target) if u is not None})
            gone = self._deleted(users)
            units = [
                unit
                for event in run
                if event.actor not in gone and event.target not in gone
                for unit in plan(event, self._bucket, self._neighbours)
            ]
            for start in range(0, len(units), _CHUNK):
                pipe = self._client.pipeline(transaction=False)
                for unit in units[start : start + _CHUNK]:
                    keys, args = self._call(unit, now)
                    self._script(keys=keys, args=args, client=pipe)
                self._execute(pipe)

    def _call(self, unit: Unit, now: float) -> tuple[list[str], list[str]]:
        slot = unit.slot
        keys = [self.key(slot, "applied"), self.key(slot, "meta")]
        index = {"meta": 2}

        def at(name: str) -> str:
            if name not in index:
                keys.append(self.key(slot, name))
                index[name] = len(keys)
            return str(index[name])

        guard = "d" if slot == DELTAS else "u"
        args = [unit.event_id, repr(now), repr(self._horizon), str(self._keep), guard]
        for op, key, name, value in unit.ops:
            args += [op, at(key), at(name) if op == "append" else name, value]
        return keys, args

    def user_features(self, users: Sequence[str], now: float) -> list[UserFeatures]:
        pipe = self._client.pipeline(transaction=False)
        for user in users:
            pipe.hgetall(self.key(user, "counts"))
            pipe.hgetall(self.key(user, "meta"))
        replies = iter(self._execute(pipe))
        out = []
        for user, counts, meta in zip(users, replies, replies, strict=True):
            fields = {_text(k): int(v) for k, v in counts.items()}
            out.append(
                UserFeatures(
                    user=user,
                    degree=int(meta.get(b"degree", 0)),
                    last_active=parse_ts(meta.get(b"last_active")),
                    counts=summarise_counts(fields, now),
                    deleted=b"deleted" in meta,
                )
            )
        return out

    def pair_features(self, pairs: Sequence[tuple[str, str]]) -> list[PairFeatures]:
        ordered = [tuple(sorted(p)) for p in pairs]
        pipe = self._client.pipeline(transaction=False)
        for a, b in ordered:
            pipe.hgetall(self.key(a, pair_key(b)))
            pipe.hget(self.key(a, "adj"), b)
        replies: Iterator[Any] = iter(self._execute(pipe))
        out = []
        for (a, b), record, edge in zip(ordered, replies, replies, strict=True):
            fields = {_text(k): _text(v) for k, v in record.items()}
            last = parse_ts(fields.pop("last_ts", None))
            out.append(PairFeatures(a, b, {k: int(v) for k, v in fields.items()}, last, edge_on(edge)))
        return out

    def deltas_since(self, seq: int, limit: int = 10_000) -> list[GraphDelta]:
        try:
            entries: Any = self._client.xrange(self.key(DELTAS, "log"), f"({max(seq, 0)}-0", "+", count=limit)
        except redis.ConnectionError as exc:
            raise ServiceUnavailable(f"cannot reach Redis: {exc}") from exc
        return [
            GraphDelta(seq=int(_text(entry_id).split("-")[0]), **json.loads(fields[b"d"]))
            for entry_id, fields in entries
        ]

    def last_seq(self) -> int:
        value: Any = self._client.get(self.key(DELTAS, "seq"))
        return int(value) if value is not None else 0

    def close(self) -> None:
        self._client.close()
