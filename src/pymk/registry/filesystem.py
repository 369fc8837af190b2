"""The embedded model registry: one directory per version under ``PYMK_HOME/models``.

Layout::

    models/
      v0001-20261127T1130Z/   manifest.json + the model's own files (immutable once there)
      active.json             {"stack": [...], "history": [...]}: the active pointer and its past
      .staging/               versions being written (never read)
      .lock                   held by writers (register's rename, promote, rollback)

Why it is safe: a version is written into ``.staging`` and renamed into place only once complete, so a
reader sees it whole or not at all; ``active.json`` is replaced with ``os.replace`` (atomic on POSIX),
so a reader sees the old pointer or the new one. Writers serialise on an ``flock`` on ``.lock``.
"""

from __future__ import annotations

import builtins
import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from pymk.errors import InvalidInput
from pymk.registry.base import (
    HistoryEntry,
    ModelVersion,
    NothingToRollBack,
    RegistryError,
    UnknownVersion,
    Writer,
    check_gate,
)
from pymk.registry.manifest import (
    MANIFEST,
    Manifest,
    NewVersion,
    code_revision,
    format_version_id,
    iso_utc,
    utc_now,
    version_number,
)

ACTIVE = "active.json"


class _ActiveState(BaseModel):
    stack: list[str] = Field(default_factory=list, description="Versions made active, current last.")
    history: list[HistoryEntry] = Field(default_factory=list)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that readers see the old file or the new one, never a part."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


class FilesystemRegistry:
    """:class:`~pymk.registry.base.ModelRegistry` in a directory (created on first write).

    ``gate_metric`` (higher is better) and ``gate_tolerance`` configure the promote gate.
    """

    def __init__(self, root: Path, *, gate_metric: str = "recall@20", gate_tolerance: float = 0.0) -> None:
        self.root = root
        self.gate_metric = gate_metric
        self.gate_tolerance = gate_tolerance

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _numbers(self) -> list[tuple[int, str]]:
        if not self.root.is_dir():
            return []
        found = ((version_number(p.name), p.name) for p in self.root.iterdir() if p.is_dir())
        return sorted((n, name) for n, name in found if n is not None)

    def register(self, source: Path | Writer, info: NewVersion) -> ModelVersion:
        """Copy ``source`` (a directory) or run ``source(staging_dir)``, then add ``manifest.json``.

        Raises :class:`InvalidInput` if ``source`` is not a directory or writes its own
        ``manifest.json``; any error leaves no trace of the version.
        """
        staging_root = self.root / ".staging"
        staging_root.mkdir(parents=True, exist_ok=True)
        staging = staging_root / uuid.uuid4().hex
        try:
            if isinstance(source, Path):
                if not source.is_dir():
                    raise InvalidInput(f"model source {source} is not a directory")
                shutil.copytree(source, staging)
            else:
                staging.mkdir()
                source(staging)
            if (staging / MANIFEST).exists():
                raise InvalidInput(f"the model's files may not include {MANIFEST}: the registry writes it")
            files = {
                p.relative_to(staging).as_posix(): p.stat().st_size
                for p in sorted(staging.rglob("*"))
                if p.is_file()
            }
            code = info.code or code_revision()
            with self._locked():
                numbers = self._numbers()
                now = utc_now()
                version = format_version_id((numbers[-1][0] if numbers else 0) + 1, now)
                fields = info.model_dump(exclude={"code"})
                manifest = Manifest(
                    **fields, version=version, created_at=iso_utc(now), code=code, files=files
                )
                with (staging / MANIFEST).open("w") as handle:
                    handle.write(manifest.model_dump_json(indent=2) + "\n")
                    handle.flush()
                    os.fsync(handle.fileno())
                target = self.root / version
                os.rename(staging, target)
                _fsync_dir(self.root)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return ModelVersion(manifest=manifest, path=target)

    def get(self, version: str) -> ModelVersion:
        """The version ``version``; raises :class:`UnknownVersion` (also for ids that are not ids)."""
        if version_number(version) is None:
            raise UnknownVersion(version)
        path = self.root / version
        try:
            text = (path / MANIFEST).read_text()
        except FileNotFoundError:
            raise UnknownVersion(version) from None
        try:
            manifest = Manifest.model_validate_json(text)
        except ValidationError as exc:
            raise RegistryError(f"unreadable manifest {path / MANIFEST}: {exc}") from exc
        return ModelVersion(manifest=manifest, path=path)

    def list(self) -> list[ModelVersion]:
        """Every version, lowest number first."""
        return [self.get(name) for _, name in self._numbers()]

    def _state(self) -> _ActiveState:
        try:
            return _ActiveState.model_validate_json((self.root / ACTIVE).read_bytes())
        except FileNotFoundError:
            return _ActiveState()
        except ValidationError as exc:
            raise RegistryError(f"unreadable active pointer {self.root / ACTIVE}: {exc}") from exc

    def _save(self, state: _ActiveState) -> None:
        _write_atomic(self.root / ACTIVE, state.model_dump_json(indent=2).encode() + b"\n")

    def active(self) -> ModelVersion | None:
        """The active version, or None before the first promote."""
        stack = self._state().stack
        return self.get(stack[-1]) if stack else None

    def promote(self, version: str, *, force: bool = False) -> ModelVersion:
        """Make ``version`` active if it passes the gate or ``force``; a no-op if it already is."""
        with self._locked():
            candidate = self.get(version)
            state = self._state()
            previous = state.stack[-1] if state.stack else None
            if previous == version:
                return candidate
            if not force:
                current = self.get(previous).manifest if previous else None
                check_gate(candidate.manifest, current, self.gate_metric, self.gate_tolerance)
            state.stack.append(version)
            state.history.append(
                HistoryEntry(
                    at=iso_utc(utc_now()), action="promote", version=version, previous=previous, forced=force
                )
            )
            self._save(state)
            return candidate

    def rollback(self) -> ModelVersion:
        """Return to the version active before the current one (repeatable, back to the first promote)."""
        with self._locked():
            state = self._state()
            if len(state.stack) < 2:
                what = (
                    "no version was ever promoted"
                    if not state.stack
                    else f"{state.stack[-1]} is the only version that has been active"
                )
                raise NothingToRollBack(f"nothing to roll back to: {what}")
            current = state.stack.pop()
            target = self.get(state.stack[-1])
            state.history.append(
                HistoryEntry(
                    at=iso_utc(utc_now()), action="rollback", version=target.version, previous=current
                )
            )
            self._save(state)
            return target

    def history(self) -> builtins.list[HistoryEntry]:
        """Every change of the active version, oldest first."""
        return self._state().history
