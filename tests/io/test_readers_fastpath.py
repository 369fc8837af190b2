"""The bulk fast path of ``iter_batches`` gives exactly what the line loop gives, errors included."""

from __future__ import annotations

import gzip
import math
import random
from pathlib import Path
from typing import Any

import pytest

from pymk.errors import InvalidRecord
from pymk.io import readers
from pymk.io.formats import Format
from pymk.io.readers import iter_batches

pytestmark = pytest.mark.unit

FAST = [Format.SNAP_TEMPORAL, Format.SNAP_STATIC, Format.BITCOIN_CSV]


def _line(rng: random.Random, fmt: Format, dirty: bool) -> bytes:
    ids = [str(rng.randrange(30)), rng.choice(["u", "ü", "id_"]) + str(rng.randrange(5)), "x" * 130]
    src = rng.choice(ids[:2]) if not dirty or rng.random() < 0.8 else ids[2]
    dst = src if rng.random() < 0.1 else str(rng.randrange(30))
    ts = rng.choice(["1280369730", "1289241911.72836", "0", "4102444799", "1e9"])
    if dirty:
        ts = rng.choice([ts, ts, "abc", "nan", "inf", "-5", "4102444800", ""])
    sep = "," if fmt is Format.BITCOIN_CSV else rng.choice([" ", "\t", "  "] if dirty else [" "])
    fields = {Format.SNAP_TEMPORAL: [src, dst, ts], Format.SNAP_STATIC: [src, dst]}.get(
        fmt, [src, dst, rng.choice(["-10", "3", "2.5"] + (["x"] if dirty else [])), ts]
    )
    if dirty and rng.random() < 0.1:
        fields = fields[:-1]
    text = sep.join(fields)
    if dirty:
        text = rng.choice([text] * 6 + ["", "# comment", "% comment", f"  {text} ", f"{text}\r"])
    raw = text.encode()
    if dirty and rng.random() < 0.03:
        raw = b"\xff\xfe" + raw
    return raw


def _write(tmp_path: Path, fmt: Format, seed: int, dirty: bool, n: int = 300) -> Path:
    rng = random.Random(seed)
    lines = [_line(rng, fmt, dirty and rng.random() < 0.05) for _ in range(n)]
    if fmt is Format.BITCOIN_CSV and seed % 2:
        lines.insert(0, b"source,target,rating,time")
    body = b"\n".join(lines) + (b"\n" if seed % 3 else b"")
    path = tmp_path / f"{fmt.value}-{seed}.txt"
    path.write_bytes(gzip.compress(body) if seed % 4 == 0 else body)
    return path


def _read(path: Path, fmt: Format, on_error: Any) -> tuple[dict[str, list[Any]], str | None]:
    columns: dict[str, list[Any]] = {
        k: [] for k in ("line", "actor", "target", "ts", "type", "event_id", "props")
    }
    columns["rejected"] = []
    error = None
    try:
        for batch in iter_batches(path, fmt, on_error=on_error, batch_lines=16):
            for key in columns:
                columns[key].extend(getattr(batch, key))
    except InvalidRecord as exc:
        error = str(exc)
    columns["ts"] = ["nan" if math.isnan(t) else t for t in columns["ts"]]  # NaN != NaN
    return columns, error


@pytest.mark.parametrize("fmt", FAST, ids=str)
@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("on_error", ["skip", "raise"])
def test_fast_path_matches_line_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: Format, seed: int, on_error: str
) -> None:
    path = _write(tmp_path, fmt, seed, dirty=True)
    fast = _read(path, fmt, on_error)
    monkeypatch.setattr(readers, "_fast_block", lambda *a: None)
    slow = _read(path, fmt, on_error)
    assert fast == slow


@pytest.mark.parametrize("fmt", FAST, ids=str)
def test_clean_blocks_take_the_fast_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: Format
) -> None:
    path = _write(tmp_path, fmt, seed=1, dirty=False)
    hits: list[bool] = []
    original = readers._fast_block

    def spy(*args: Any) -> Any:
        result = original(*args)
        hits.append(result is not None)
        return result

    monkeypatch.setattr(readers, "_fast_block", spy)
    columns, error = _read(path, fmt, "raise")
    assert error is None and columns["line"]
    # Only bitcoin's first block (the header line) needs the line loop.
    assert sum(hits) >= len(hits) - 1


def test_bytes_read_reaches_the_file_size(tmp_path: Path) -> None:
    for seed in (1, 4):  # plain, gzip
        path = _write(tmp_path, Format.SNAP_TEMPORAL, seed, dirty=False)
        positions = [b.bytes_read for b in iter_batches(path, Format.SNAP_TEMPORAL, batch_lines=50)]
        assert positions == sorted(positions)
        assert positions[-1] == path.stat().st_size
