"""Deterministic, content-based ids for records that carry none (edge-list rows, rejected lines).

The id of a row is the MD5 (hex) of what the row says and of its *occurrence number* — how many
identical rows came before it in the same file::

    md5("<type>\\x1f<src>\\x1f<dst>\\x1f<ts in integer microseconds, or 'nan'>")              (first)
    md5("<type>\\x1f<src>\\x1f<dst>\\x1f<ts ...>\\x1f<n>")                                     (n-th repeat)

So re-importing a file — renamed, moved, or after other files — gives every row the same id again and
the dedupe store recognises all of them, while a file that really holds the same interaction twice
keeps both. Times enter as integers (``round(ts * 1e6)``), so ``5`` and ``5.0`` are the same time and
no float formatting is involved. Rejected lines get ids the same way from ``"rejected\\x1f<raw text>"``.
MD5 here is a fingerprint, not a security measure. Row ids are computed in bulk by DuckDB; the
definition above is what counts (a plain ``hashlib.md5`` gives the same ids).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from hashlib import md5

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

_SEP = "\x1f"


def ts_key(ts: npt.NDArray[np.float64]) -> pa.Array:
    """``ts`` as it enters a row key: integer microseconds (int64), null where there is no time."""
    valid = np.isfinite(ts)
    micros = np.zeros(ts.shape, dtype=np.int64)
    micros[valid] = np.round(ts[valid] * 1e6).astype(np.int64)
    return pa.array(micros, pa.int64(), mask=~valid)


class RowIds:
    """Assigns ids to the records of one file, in file order; one instance per file.

    Memory: one id per distinct record of the file, plus a count for records that repeat.
    """

    def __init__(self) -> None:
        self._seen: set[str] = set()  # first-occurrence ids of every record so far
        self._repeats: dict[str, int] = {}  # occurrences so far, for records seen more than once
        self._db: duckdb.DuckDBPyConnection | None = None

    def rows(self, type_: str, src: pa.Array, dst: pa.Array, ts: npt.NDArray[np.float64]) -> list[str]:
        """Ids (32 hex characters) of edge-list rows ``src[i] -> dst[i]`` (string arrays without nulls)
        at ``ts[i]`` (UNIX seconds, NaN for none) of one event type, in order."""
        if len(src) == 0:
            return []
        if self._db is None:
            self._db = duckdb.connect()
        micros = ts_key(ts)
        table = pa.table({"s": src, "d": dst, "t": micros})
        type_sql = "'" + type_.replace("'", "''") + "'"
        key_sql = f"concat_ws(chr(31), {type_sql}, s, d, coalesce(CAST(t AS VARCHAR), 'nan'))"
        firsts: list[str] = (
            self._db.from_arrow(table).project(f"md5({key_sql})").to_arrow_table()[0].to_pylist()
        )

        def key(i: int) -> str:
            t = micros[i].as_py()
            return _SEP.join((type_, src[i].as_py(), dst[i].as_py(), "nan" if t is None else str(t)))

        return self._number(firsts, key)

    def rejected(self, raw: Sequence[str]) -> list[str]:
        """Ids (32 hex characters) of rejected lines, from their text as stored in the dead letters."""
        keys = [f"rejected{_SEP}{text}" for text in raw]
        return self._number([md5(k.encode()).hexdigest() for k in keys], keys.__getitem__)

    def _number(self, firsts: list[str], key: Callable[[int], str]) -> list[str]:
        """Replace the ids of repeated records (``firsts`` are first-occurrence ids) by their n-th
        occurrence ids. Set operations find the (rare) repeats; only those are counted one by one."""
        fresh = set(firsts)
        again = fresh & self._seen
        if len(fresh) != len(firsts):
            again |= {d for d, c in Counter(firsts).items() if c > 1}
        ids = list(firsts)
        for i in [i for i, d in enumerate(firsts) if d in again] if again else ():
            first = firsts[i]
            n = self._repeats.get(first, 1 if first in self._seen else 0)
            self._repeats[first] = n + 1
            if n:
                ids[i] = md5(f"{key(i)}{_SEP}{n}".encode()).hexdigest()
        self._seen |= fresh
        return ids
