"""On-disk layout helpers: a directory of ``.npy`` arrays plus ``meta.json``, replaced atomically."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

META = "meta.json"


def write_dir_atomically(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a fresh sibling directory, then swap it in at ``path``.

    Readers never see a half-written directory, and arrays memory-mapped from the old directory stay
    valid (their files are unlinked, not truncated), so a store loaded with ``mmap=True`` can save over
    its own source.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        write(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex}"
        target.rename(old)
    tmp.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_meta(directory: Path, meta: dict[str, Any]) -> None:
    """Write ``meta.json`` (UTF-8, sorted keys)."""
    (directory / META).write_text(json.dumps(meta, sort_keys=True, indent=1), encoding="utf-8")


def read_meta(directory: str | Path, expected_format: str) -> dict[str, Any]:
    """Read ``meta.json`` and check its ``format`` field; ``FileNotFoundError``/``ValueError`` otherwise."""
    meta: dict[str, Any] = json.loads((Path(directory) / META).read_text(encoding="utf-8"))
    if meta.get("format") != expected_format:
        raise ValueError(f"{directory}: format {meta.get('format')!r}, expected {expected_format!r}")
    return meta


def save_array(directory: Path, name: str, array: npt.NDArray[Any]) -> None:
    """Write ``name.npy`` (no pickles)."""
    np.save(directory / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)


def load_array(directory: str | Path, name: str, mmap: bool) -> npt.NDArray[Any]:
    """Read ``name.npy``; with ``mmap`` it is a read-only memory map, otherwise an in-memory copy."""
    return np.load(Path(directory) / f"{name}.npy", mmap_mode="r" if mmap else None, allow_pickle=False)  # type: ignore[no-any-return]
