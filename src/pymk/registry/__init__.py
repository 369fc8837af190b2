"""Model versions: immutable bundles (artifacts + manifest), the active pointer, promote and rollback.

:func:`open_registry` is the composition root: today the filesystem registry under ``PYMK_HOME/models``.
"""

from __future__ import annotations

from pymk.config import Settings
from pymk.registry.base import (
    GateRefused,
    HistoryEntry,
    ModelRegistry,
    ModelVersion,
    NothingToRollBack,
    RegistryError,
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
    "UnknownVersion",
    "Writer",
    "check_gate",
    "code_revision",
    "open_registry",
]


def open_registry(settings: Settings) -> ModelRegistry:
    """The registry under ``settings.home/models`` with the gate from ``settings``."""
    return FilesystemRegistry(
        settings.home / "models", gate_metric=settings.gate_metric, gate_tolerance=settings.gate_tolerance
    )
