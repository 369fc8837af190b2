"""Deterministic, content-based ids for records that carry none (edge-list rows, rejected lines).

The id of a row is a hash of what the row says (event type, src, dst, ts as parsed) and of its
*occurrence number*: how many identical rows came before it in the same file. So re-importing a file —
renamed, moved, or with other files imported in between — gives every row the same id again and the
dedupe store recognises all of them, while a file that really holds the same interaction twice keeps
both. Rejected lines get ids the same way from their raw text, so they are dead-lettered once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from hashlib import blake2b

_SEP = "\x1f"


class RowIds:
    """Assigns ids to the records of one file, in file order; one instance per file.

    Memory: one 16-byte digest per distinct record of the file, plus a count for records that repeat.
    """

    def __init__(self) -> None:
        self._seen: set[bytes] = set()  # digests of every record so far
        self._repeats: dict[bytes, int] = {}  # occurrences so far, for records seen more than once

    def _ids(self, keys: Sequence[str]) -> list[str]:
        digests = [blake2b(k, digest_size=16).digest() for k in map(str.encode, keys)]
        ids = list(map(bytes.hex, digests))
        fresh = set(digests)
        # Set operations find the (rare) records seen before; only those need counting, row by row.
        again = fresh & self._seen
        if len(fresh) != len(digests):
            again |= {d for d, c in Counter(digests).items() if c > 1}
        if again:
            seen, repeats = self._seen, self._repeats
            for i in [i for i, d in enumerate(digests) if d in again]:
                d = digests[i]
                n = repeats.get(d, 1 if d in seen else 0)
                repeats[d] = n + 1
                if n:
                    ids[i] = blake2b(d + str(n).encode(), digest_size=16).hexdigest()
        self._seen |= fresh
        return ids

    def rows(self, type_: str, src: Sequence[str], dst: Sequence[str], ts: Sequence[float]) -> list[str]:
        """Ids (32 hex characters) of edge-list rows ``src[i] -> dst[i]`` at ``ts[i]`` of one type.

        ``ts`` is the parsed float (``repr`` is exact, so ``"5"`` and ``"5.0"`` are the same time);
        NaN (no time) hashes as ``nan``.
        """
        head = type_ + _SEP
        return self._ids([f"{head}{s}{_SEP}{d}{_SEP}{t!r}" for s, d, t in zip(src, dst, ts, strict=True)])

    def rejected(self, raw: Sequence[str]) -> list[str]:
        """Ids (32 hex characters) of rejected lines, from their text as stored in the dead letters."""
        return self._ids([f"rejected{_SEP}{text}" for text in raw])
