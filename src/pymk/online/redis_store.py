"""Redis online store (production): ``redis://host:port/db?prefix=pymk:online:``.

Key layout, Redis Cluster-friendly: every structure of a user lives under the hash tag of that user,
``<prefix>{u:<id>}:<name>`` (``counts``, ``meta``, ``adj``, ``blocks``, ``partners``, ``pair:<other>``,
``applied``), the delta log under ``<prefix>{d}:`` (``log`` stream with ids ``<seq>-0``, ``seq``,
``applied``). ``{``, ``}`` and ``%`` in ids are %-escaped so an id cannot break its tag.

Each unit of :mod:`pymk.online.plan` runs inside one Lua script call on its slot, atomically, and is
recorded in the slot's ``applied`` sorted set (event id → processing time, trimmed to the dedupe
horizon) so it runs at most once per event id. A batch is one pipeline (chunked) of one call per slot
touched, carrying that slot's units in order; reads are pipelined too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from typing import Any

import orjson
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
local keep, guard = tonumber(ARGV[3]), ARGV[4]
redis.call('ZREMRANGEBYSCORE', applied, '-inf', '(' .. (tonumber(ARGV[1]) - tonumber(ARGV[2])))
local done = 0
for _, unit in ipairs(cjson.decode(ARGV[5])) do
  local ops = unit[2]
  if not redis.call('ZSCORE', applied, unit[1]) then
    redis.call('ZADD', applied, ARGV[1], unit[1])
    if not (guard == 'u' and redis.call('HEXISTS', meta, 'deleted') == 1) then
      done = done + 1
      for i = 1, #ops, 4 do
        local op, key, f, v = ops[i], KEYS[ops[i + 1]], ops[i + 2], ops[i + 3]
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
            local was = cur and string.sub(cur, 1, 1) == '1'
            local now_on = string.sub(v, 1, 1) == '1'
            if op == 'edge' and was ~= now_on then
              redis.call('HINCRBY', meta, 'degree', now_on and 1 or -1)
            end
          end
        elseif op == 'sadd' then
          redis.call('SADD', key, f)
        elseif op == 'srem' then
          redis.call('SREM', key, f)
        elseif op == 'hdel' then
          redis.call('HDEL', key, f)
        elseif op == 'hset' then
          redis.call('HSET', key, f, v)
        elseif op == 'del' then
          redis.call('DEL', key)
        elseif op == 'append' then
          local seq = redis.call('INCR', key)
          redis.call('XADD', KEYS[f], seq .. '-0', 'd', v)
        end
      end
    end
  end
end
return done
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
                for keys, args in self._calls(units[start : start + _CHUNK], now):
                    self._script(keys=keys, args=args, client=pipe)
                self._execute(pipe)

    def _calls(self, units: Sequence[Unit], now: float) -> Iterator[tuple[list[str], list[str | bytes]]]:
        """One script call per slot, carrying that slot's units in order."""
        by_slot: dict[str, list[Unit]] = {}
        for unit in units:
            by_slot.setdefault(unit.slot, []).append(unit)
        for slot, group in by_slot.items():
            yield self._slot_call(slot, group, now)

    def _slot_call(self, slot: str, units: Sequence[Unit], now: float) -> tuple[list[str], list[str | bytes]]:
        """``KEYS`` and ``ARGV`` of one script call: ops travel as one JSON argument (far cheaper to send
        than one argument each), structure names as indices into ``KEYS``."""
        keys = [self.key(slot, "applied"), self.key(slot, "meta")]
        index = {"meta": 2}

        def at(name: str) -> int:
            if name not in index:
                keys.append(self.key(slot, name))
                index[name] = len(keys)
            return index[name]

        body = []
        for unit in units:
            ops: list[str | int] = []
            for op, key, name, value in unit.ops:
                ops += [op, at(key), at(name) if op == "append" else name, value]
            body.append([unit.event_id, ops])
        guard = "d" if slot == DELTAS else "u"
        return keys, [repr(now), repr(self._horizon), str(self._keep), guard, orjson.dumps(body)]

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
            pipe.hget(self.key(a, "blocks"), b)
            pipe.hget(self.key(b, "blocks"), a)
        replies: Iterator[Any] = iter(self._execute(pipe))
        out = []
        for (a, b), record, edge, a_blocks, b_blocks in zip(ordered, *[replies] * 4, strict=True):
            fields = {_text(k): _text(v) for k, v in record.items()}
            last = parse_ts(fields.pop("last_ts", None))
            counts = {k: int(v) for k, v in fields.items()}
            blocked = edge_on(a_blocks) or edge_on(b_blocks)
            out.append(PairFeatures(a, b, counts, last, edge_on(edge), blocked))
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
