"""Model versions: immutable bundles (artifacts + manifest), the active pointer, promote and rollback.

:func:`open_registry` is the composition root: today the filesystem registry under ``PYMK_HOME/models``.
"""

from __future__ import annotations

from pathlib import Path

from pymk.registry.base import (
    GateRefused,
    HistoryEntry,
    ModelRegistry,
    ModelVersion,
    NothingToRollBack,
    RegistryError,
    RegistrySettings,
    UnknownVersion,
    Writer,
    check_gate,
)
from pymk.registry.filesystem import FilesystemRegistry
from pymk.registry.manifest import CodeRevision, Manifest, NewVersion, code_revision

__all__ = [
    "CodeRevision",
    "FilesystemRegistry",
    "GateRefused",
    "HistoryEntry",
    "Manifest",
    "ModelRegistry",
    "ModelVersion",
    "NewVersion",
    "NothingToRollBack",
    "RegistryError",
    "RegistrySettings",
    "UnknownVersion",
    "Writer",
    "check_gate",
    "code_revision",
    "open_registry",
]


def open_registry(home: Path, settings: RegistrySettings | None = None) -> ModelRegistry:
    """The registry under ``home/models`` with the gate from ``settings`` (default: environment)."""
    s = settings or RegistrySettings()
    return FilesystemRegistry(home / "models", gate_metric=s.gate_metric, gate_tolerance=s.gate_tolerance)
