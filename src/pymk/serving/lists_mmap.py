"""Embedded precomputed-list store: memory-mapped NumPy arrays in snapshot directories.

Layout under ``root`` (``PYMK_HOME/lists`` by default)::

    CURRENT                  name of the committed snapshot (replaced atomically)
    <snapshot>/meta.json     model_version, k, reason_names, users, committed_at
    <snapshot>/ids.arrow     external user ids; row i = internal index i (pymk.events.ids.IdMap)
    <snapshot>/items.npy     int32 (n, k), -1 padding        scores.npy   float32 (n, k)
    <snapshot>/reasons.npy   float32 (n, k, r), NaN = none   computed_at.npy  float64 (n,), NaN = no list
    <snapshot>/counts.npy    int32 (n,): real items per list
    <snapshot>/json.bin      every list's items JSON, back to back
    <snapshot>/json_start.npy int64 (n,)   json_ends.npy uint32 (n, k): item end offsets within a list

A writer fills a hidden temporary snapshot and commit renames it into place and points CURRENT at it, so
readers never see a half-written snapshot; several server processes map the same pages. Readers pick up
a new snapshot on :meth:`MmapListStore.refresh`; the previous snapshot is kept for readers still on it.
"""

from __future__ import annotations

import json
import mmap
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import numpy as np

from pymk.events.ids import IdMap
from pymk.serving.lists import ListsInfo, StoredList, encode_items
from pymk.serving.recommender import MAX_K, TopK

_KEEP = 2


class _Snapshot:
    """One committed snapshot, mapped read-only."""

    def __init__(self, path: Path) -> None:
        meta = json.loads((path / "meta.json").read_text())
        self.info = ListsInfo(meta["model_version"], int(meta["k"]), int(meta["users"]), meta["committed_at"])
        self.reason_names = tuple(str(n) for n in meta["reason_names"])
        self.ids = IdMap.load(path / "ids.arrow")
        self.index = self.ids._index  # the hot path does one dict lookup per request
        # Plain ndarray views of the maps: np.memmap's subclass hooks cost more than the lookup itself.
        load = {name: np.asarray(np.load(path / f"{name}.npy", mmap_mode="r")) for name in _ARRAYS}
        self.items, self.scores, self.reasons = load["items"], load["scores"], load["reasons"]
        # The per-list scalars as memoryviews: Python scalars at half the cost of NumPy's scalar indexing
        # (the hot path reads four per request).
        self._at, self._count = load["computed_at"].data, load["counts"].data
        self._start, self._ends = load["json_start"].data, load["json_ends"].data
        self.blob: mmap.mmap | bytes = b""
        if meta["json_bytes"]:
            with (path / "json.bin").open("rb") as f:
                self.blob = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)

    def get(self, user_id: str, k: int) -> StoredList | None:
        row = self.index.get(user_id)
        if row is None:
            return None
        at: float = self._at[row]
        if at != at:
            return None
        n = min(k, self._count[row])
        start: int = self._start[row]
        blob = self.blob[start : start + self._ends[row, n - 1]] if n else b""
        return StoredList(
            self.info.model_version,
            at,
            blob,
            self.items[row, :n],
            self.scores[row, :n],
            self.reasons[row, :n],
            self.reason_names,
        )


_ARRAYS = ("items", "scores", "reasons", "computed_at", "counts", "json_start", "json_ends")


class MmapListWriter:
    """Fills a temporary snapshot; :meth:`commit` publishes it (see the module docstring)."""

    def __init__(self, root: Path, model_version: str, user_ids: Sequence[str], k: int) -> None:
        if not 1 <= k <= MAX_K:
            raise ValueError(f"k must be in 1..{MAX_K}, got {k}")
        self.root, self.model_version, self.k = root, model_version, k
        self.user_ids = list(user_ids)
        self.tmp = root / f".tmp-{os.getpid()}-{time.time_ns()}"
        self.tmp.mkdir(parents=True)
        n = len(self.user_ids)
        self.reason_names: tuple[str, ...] | None = None
        self.arrays: dict[str, np.ndarray] = {}
        for name, dtype, shape, fill in (
            ("items", np.int32, (n, k), -1),
            ("scores", np.float32, (n, k), 0.0),
            ("computed_at", np.float64, (n,), np.nan),
            ("counts", np.int32, (n,), 0),
            ("json_start", np.int64, (n,), 0),
            ("json_ends", np.uint32, (n, k), 0),
        ):
            self.arrays[name] = np.lib.format.open_memmap(self.tmp / f"{name}.npy", "w+", dtype, shape)
            self.arrays[name][:] = fill
        self.blob = (self.tmp / "json.bin").open("wb")
        self.json_bytes = 0
        self.written = 0
        self.done = False

    def _reasons(self, names: tuple[str, ...]) -> np.ndarray:
        if self.reason_names is None:
            self.reason_names = names
            shape = (len(self.user_ids), self.k, len(names))
            self.arrays["reasons"] = np.lib.format.open_memmap(
                self.tmp / "reasons.npy", "w+", np.float32, shape
            )
            self.arrays["reasons"][:] = np.nan
        elif names != self.reason_names:
            raise ValueError(f"reason names changed within one write: {self.reason_names} -> {names}")
        return self.arrays["reasons"]

    def write(self, users: np.ndarray, top: TopK, computed_at: float) -> None:
        """Store the lists of ``users`` (internal indices into ``user_ids``)."""
        if top.k > self.k:
            raise ValueError(f"lists of width {top.k} do not fit a store of width {self.k}")
        users = np.asarray(users, dtype=np.int64)
        reasons = self._reasons(top.reason_names)
        a, w = self.arrays, top.k
        a["items"][users, :w] = top.items
        a["scores"][users, :w] = top.scores
        reasons[users, :w] = top.reasons
        a["computed_at"][users] = computed_at
        a["counts"][users] = top.counts()
        ids = self.user_ids
        for user, (blob, ends) in zip(
            users.tolist(), encode_items(top, lambda i: [ids[x] for x in i.tolist()]), strict=True
        ):
            a["json_start"][user] = self.json_bytes
            a["json_ends"][user, : len(ends)] = ends
            self.blob.write(blob)
            self.json_bytes += len(blob)
        self.written += len(users)

    def commit(self) -> ListsInfo:
        """Flush, publish the snapshot, point CURRENT at it, and drop snapshots older than the previous."""
        self._reasons(self.reason_names or ())
        self.blob.close()
        for array in self.arrays.values():
            array.flush()  # type: ignore[attr-defined]
        IdMap(self.user_ids).save(self.tmp / "ids.arrow")
        info = ListsInfo(self.model_version, self.k, self.written, time.time())
        meta = {**info.__dict__, "reason_names": list(self.reason_names or ()), "json_bytes": self.json_bytes}
        (self.tmp / "meta.json").write_text(json.dumps(meta))
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.model_version)
        name = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{time.time_ns() % 10**9:09d}-{safe}"
        self.tmp.rename(self.root / name)
        pointer = self.root / ".CURRENT.tmp"
        pointer.write_text(name)
        os.replace(pointer, self.root / "CURRENT")
        self.done = True
        snapshots = sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        for old in snapshots[:-_KEEP]:
            shutil.rmtree(old, ignore_errors=True)
        return info

    def __enter__(self) -> MmapListWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None and not self.done:
            self.commit()
        elif not self.done:
            self.blob.close()
            shutil.rmtree(self.tmp, ignore_errors=True)


class MmapListStore:
    """:class:`~pymk.serving.lists.ListStore` over snapshot directories under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._name: str | None = None
        self._snap: _Snapshot | None = None
        self.refresh()

    def refresh(self) -> bool:
        """Map the snapshot CURRENT names if it changed; True when it did. Requests in flight keep theirs."""
        try:
            name = (self.root / "CURRENT").read_text().strip()
        except FileNotFoundError:
            return False
        if name == self._name:
            return False
        self._snap, self._name = _Snapshot(self.root / name), name
        return True

    def writer(self, model_version: str, user_ids: Sequence[str], k: int) -> MmapListWriter:
        return MmapListWriter(self.root, model_version, user_ids, k)

    def get(self, user_id: str, k: int) -> StoredList | None:
        snap = self._snap
        if snap is None:
            self.refresh()
            snap = self._snap
        return snap.get(user_id, k) if snap is not None else None

    def get_many(self, user_ids: Sequence[str], k: int) -> list[StoredList | None]:
        snap = self._snap
        if snap is None:
            self.refresh()
            snap = self._snap
        return [snap.get(u, k) if snap is not None else None for u in user_ids]

    def info(self) -> ListsInfo | None:
        if self._snap is None:
            self.refresh()
        return self._snap.info if self._snap is not None else None

    def close(self) -> None:
        self._snap = None
        self._name = None
