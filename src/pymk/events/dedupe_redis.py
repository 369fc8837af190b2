"""Redis seen-event store (production): ``redis://host:port/db?prefix=pymk:``.

Ids live in ``shards`` Redis sets named ``{prefix}seen:{n}`` (``n`` = CRC-32 of the id modulo
``shards``). Every command and script touches exactly one key, so the store works unchanged on Redis
Cluster, where the shards spread over the slots instead of piling onto one hot key. A batch is one
pipeline with one small Lua script call per shard touched: the ids travel newline-joined as one argument
and membership comes back as one ``"0101..."`` string, which keeps client-side encoding and reply parsing
(the cost of 300k separate arguments and replies) out of the way. Needs Redis ≥ 6.2 (``SMISMEMBER``).
Members never expire, so a replay of any age is recognised (memory: roughly 60 bytes per id). Needs the
``services`` extra (redis-py).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import redis

from pymk.errors import ServiceUnavailable
from pymk.events.dedupe import first_unseen

#: Ids per pipeline: bounds the memory of one round trip on either side.
_CHUNK = 100_000

# Split ARGV[1] on "\n" (empty ids kept), then run COMMAND over the ids in slices `unpack` can take.
_SPLIT = """
local s, ids, pos = ARGV[1], {}, 1
while true do
  local nl = string.find(s, "\\n", pos, true)
  if not nl then ids[#ids + 1] = string.sub(s, pos); break end
  ids[#ids + 1] = string.sub(s, pos, nl - 1)
  pos = nl + 1
end
"""
_FILTER = (
    _SPLIT
    + """
local out = {}
for i = 1, #ids, 4000 do
  local r = redis.call('SMISMEMBER', KEYS[1], unpack(ids, i, math.min(i + 3999, #ids)))
  for j = 1, #r do out[#out + 1] = (r[j] == 1) and '1' or '0' end
end
return table.concat(out)
"""
)
_MARK = (
    _SPLIT
    + """
local added = 0
for i = 1, #ids, 4000 do
  added = added + redis.call('SADD', KEYS[1], unpack(ids, i, math.min(i + 3999, #ids)))
end
return added
"""
)


class RedisSeenEvents:
    """Seen event ids in sharded Redis sets under ``prefix``."""

    def __init__(self, client: redis.Redis, prefix: str = "pymk:", shards: int = 256) -> None:
        if shards < 1:
            raise ValueError("shards must be >= 1")
        self._client = client
        self._prefix = prefix
        self._shards = shards
        self._filter = client.register_script(_FILTER)
        self._mark = client.register_script(_MARK)

    def key(self, event_id: str) -> str:
        """The Redis key of the set that holds ``event_id``."""
        return f"{self._prefix}seen:{zlib.crc32(event_id.encode()) % self._shards}"

    def _groups(self, event_ids: Sequence[str]) -> dict[str, list[str]]:
        by_shard: dict[int, list[str]] = {}
        shards, crc = self._shards, zlib.crc32
        for event_id in event_ids:
            by_shard.setdefault(crc(event_id.encode()) % shards, []).append(event_id)
        return {f"{self._prefix}seen:{n}": ids for n, ids in by_shard.items()}

    def filter_new(self, event_ids: Sequence[str]) -> list[bool]:
        seen: set[str] = set()
        unique = list(dict.fromkeys(event_ids))
        for start in range(0, len(unique), _CHUNK):
            groups = self._groups(unique[start : start + _CHUNK])
            pipe = self._client.pipeline(transaction=False)
            for key, ids in groups.items():
                if any("\n" in i for i in ids):  # cannot travel newline-joined: ask plainly
                    pipe.smismember(key, ids)
                else:
                    self._filter(keys=[key], args=["\n".join(ids)], client=pipe)
            for ids, reply in zip(groups.values(), self._execute(pipe), strict=True):
                flags = [c == "1" for c in _text(reply)] if isinstance(reply, bytes | str) else reply
                seen.update(i for i, hit in zip(ids, flags, strict=True) if hit)
        return first_unseen(event_ids, seen)

    def mark_seen(self, event_ids: Sequence[str]) -> None:
        for start in range(0, len(event_ids), _CHUNK):
            pipe = self._client.pipeline(transaction=False)
            for key, ids in self._groups(event_ids[start : start + _CHUNK]).items():
                if any("\n" in i for i in ids):
                    pipe.sadd(key, *ids)
                else:
                    self._mark(keys=[key], args=["\n".join(ids)], client=pipe)
            self._execute(pipe)

    @staticmethod
    def _execute(pipe: redis.client.Pipeline) -> list[Any]:
        try:
            return list(pipe.execute())
        except redis.ConnectionError as exc:
            raise ServiceUnavailable(f"cannot reach Redis: {exc}") from exc

    def close(self) -> None:
        self._client.close()


def _text(reply: bytes | str) -> str:
    return reply.decode() if isinstance(reply, bytes) else reply
