"""The model registry interface, its errors and the evaluation gate.

A registry holds immutable model versions (artifacts + :class:`~pymk.registry.manifest.Manifest`) and one
*active* version, the one batch and real-time inference serve. ``promote`` moves the active pointer to a
version if it passes the gate; ``rollback`` moves it back to the version that was active before.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from pymk.errors import NotFound, PymkError
from pymk.registry.manifest import Manifest, NewVersion

#: Writes a model's files into the (empty, existing) directory it is given, e.g. ``model.save``.
Writer = Callable[[Path], None]


class UnknownVersion(NotFound):
    """No model version has this id."""

    def __init__(self, version: str) -> None:
        super().__init__(f"no model version {version!r} (see `pymk models list`)")
        self.version = version


class GateRefused(PymkError):
    """``promote`` refused: the candidate is worse than the active version on the gate metric."""

    http_status = 409
    grpc_code = "FAILED_PRECONDITION"


class NothingToRollBack(PymkError):
    """``rollback`` has no previously active version to return to."""

    http_status = 409
    grpc_code = "FAILED_PRECONDITION"


class RegistryError(PymkError):
    """The registry's files are unreadable or a version could not be written."""


@dataclass(frozen=True)
class ModelVersion:
    """A stored version: its manifest and the directory holding its artifacts (read-only)."""

    manifest: Manifest
    path: Path

    @property
    def version(self) -> str:
        """The version id."""
        return self.manifest.version


class HistoryEntry(BaseModel):
    """One change of the active version, oldest first in :meth:`ModelRegistry.history`."""

    model_config = ConfigDict(frozen=True)

    at: str = Field(description="UTC ISO 8601 time of the change.")
    action: Literal["promote", "rollback"]
    version: str = Field(description="The version active after the change.")
    previous: str | None = Field(description="The version active before it.")
    forced: bool = False


class ModelRegistry(Protocol):
    """Versions of the model and which one is active. Safe for concurrent readers while one writes."""

    def register(self, source: Path | Writer, info: NewVersion) -> ModelVersion:
        """Store a new version: copy directory ``source`` (or call ``source(dir)``) and write its manifest.

        The version appears whole or not at all. It is not promoted.
        """
        ...

    def get(self, version: str) -> ModelVersion:
        """The version ``version``; raises :class:`UnknownVersion`."""
        ...

    def list(self) -> list[ModelVersion]:
        """Every version, oldest (lowest number) first."""
        ...

    def active(self) -> ModelVersion | None:
        """The active version, or None before the first promote."""
        ...

    def promote(self, version: str, *, force: bool = False) -> ModelVersion:
        """Make ``version`` active if it passes :func:`check_gate` (or ``force``); returns it.

        Raises :class:`UnknownVersion` or :class:`GateRefused`. Promoting the active version is a no-op.
        """
        ...

    def rollback(self) -> ModelVersion:
        """Make the previously active version active again; raises :class:`NothingToRollBack`."""
        ...

    def history(self) -> builtins.list[HistoryEntry]:
        """Every change of the active version, oldest first."""
        ...


def check_gate(candidate: Manifest, active: Manifest | None, metric: str, tolerance: float) -> None:
    """Raise :class:`GateRefused` unless ``candidate`` may replace ``active`` on ``metric``.

    Allowed: no active version; the active version has no value for ``metric``; or
    ``candidate >= active - tolerance``. Refused: the candidate lacks ``metric`` or is lower by more
    than ``tolerance``.
    """
    if active is None:
        return
    current = active.gate_value(metric)
    if current is None:
        return
    value = candidate.gate_value(metric)
    hint = "; use --force to promote anyway"
    if value is None:
        raise GateRefused(
            f"{candidate.version} has no {metric} on the holdout, active {active.version} has "
            f"{current:.4f}{hint}"
        )
    if value < current - tolerance:
        raise GateRefused(
            f"{candidate.version} is worse than active {active.version} on {metric}: "
            f"{value:.4f} < {current:.4f} (tolerance {tolerance:g}){hint}"
        )
