"""Content-based row ids: the documented MD5 definition, occurrence numbers across batches."""

from __future__ import annotations

import math
from hashlib import md5

import numpy as np
import pyarrow as pa
import pytest

from pymk.io.rowids import RowIds

pytestmark = pytest.mark.unit


def reference(type_: str, rows: list[tuple[str, str, float]]) -> list[str]:
    """The module doc's definition, written out with hashlib."""
    seen: dict[str, int] = {}
    out = []
    for src, dst, ts in rows:
        key = "\x1f".join((type_, src, dst, "nan" if math.isnan(ts) else str(round(ts * 1e6))))
        n = seen.get(key, 0)
        seen[key] = n + 1
        out.append(md5((key if n == 0 else f"{key}\x1f{n}").encode()).hexdigest())
    return out


def ids_in_batches(type_: str, rows: list[tuple[str, str, float]], size: int) -> list[str]:
    ids, out = RowIds(), []
    for start in range(0, len(rows), size):
        part = rows[start : start + size]
        src, dst = pa.array([r[0] for r in part]), pa.array([r[1] for r in part])
        out += ids.rows(type_, src, dst, np.array([r[2] for r in part], dtype=np.float64))
    return out


ROWS = [
    ("1", "2", 100.0),
    ("1", "2", 100.0),  # the same interaction twice: two ids
    ("ü", "日本", 1289241911.72836),
    ("1", "2", 100.000001),
    ("a", "b", math.nan),
    ("1", "2", 100.0),
    ("a", "b", math.nan),
    ("2", "1", 100.0),
]


@pytest.mark.parametrize("size", [1, 3, len(ROWS)])
def test_ids_follow_the_definition_whatever_the_batches(size: int) -> None:
    assert ids_in_batches("message", ROWS, size) == reference("message", ROWS)


def test_ids_are_distinct_and_typed() -> None:
    ids = ids_in_batches("message", ROWS, 3)
    assert len(set(ids)) == len(ids)
    assert ids_in_batches("connect", ROWS[:1], 1) != ids[:1]
    assert ids_in_batches("message", [("1", "2", 100)], 1) == ids[:1]  # 100 and 100.0 are one time


def test_rejected_lines_are_numbered_too() -> None:
    ids = RowIds()
    first = ids.rejected(["x", "y", "x"])
    assert first[0] == md5(b"rejected\x1fx").hexdigest()
    assert first[2] == md5(b"rejected\x1fx\x1f1").hexdigest()
    assert ids.rejected(["x"]) == [md5(b"rejected\x1fx\x1f2").hexdigest()]
