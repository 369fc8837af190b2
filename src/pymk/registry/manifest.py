"""What a model version says about itself: the ``manifest.json`` beside its artifacts.

A manifest names everything needed to reproduce and audit the version (DESIGN §5): the model and its
params, the feature config, the fingerprint of the data snapshot, the code revision, the holdout metrics
and the MLflow run. Version ids sort by their number: ``v0003-20261127T1130Z`` is the third version
registered, at 11:30 UTC on 27 November 2026.
"""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, JsonValue

MANIFEST = "manifest.json"
_VERSION_RE = re.compile(r"^v(\d{4,})-(\d{8}T\d{4}Z)$")


class CodeRevision(BaseModel):
    """The code a version was trained with: a git commit, or ``"unknown"`` outside a git checkout."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    commit: str = Field(description="`git rev-parse HEAD`, or 'unknown'.")
    dirty: bool | None = Field(description="Tracked files had uncommitted changes; None when unknown.")
    package_version: str = Field(description="Installed pymk version.")

    def short(self) -> str:
        """``1a2b3c4d`` (``+dirty``) or ``0.1.0+unknown``: for tables."""
        if self.commit == "unknown":
            return f"{self.package_version}+unknown"
        return self.commit[:8] + ("+dirty" if self.dirty else "")


class NewVersion(BaseModel):
    """What the caller tells :meth:`ModelRegistry.register` about a trained model.

    ``metrics`` are the holdout evaluation (keys like ``recall@20``); ``code`` defaults to the revision
    of the installed pymk source (:func:`code_revision`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_name: str = Field(min_length=1, description="Human name, e.g. 'pymk-ranker'.")
    model_kind: str = Field(min_length=1, description="Implementation, e.g. 'lightgbm-lambdarank'.")
    params: dict[str, JsonValue] = Field(default_factory=dict, description="Hyper-parameters.")
    feature_config: dict[str, JsonValue] = Field(default_factory=dict, description="Features used.")
    data_fingerprint: str = Field(description="SHA-256 of the training data snapshot (event log/split).")
    metrics: dict[str, float] = Field(default_factory=dict, description="Holdout metrics, e.g. recall@20.")
    mlflow_run_id: str | None = Field(default=None, description="The tracking run that trained it.")
    code: CodeRevision | None = Field(default=None, description="Default: detected at registration.")


class Manifest(NewVersion):
    """``manifest.json``: a :class:`NewVersion` plus what the registry adds when it stores it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    format: int = Field(default=1, description="Manifest layout version.")
    version: str = Field(description="Sortable version id, e.g. v0003-20261127T1130Z.")
    created_at: str = Field(description="Registration time, UTC ISO 8601 ending in 'Z'.")
    code: CodeRevision
    files: dict[str, int] = Field(default_factory=dict, description="Artifact path (posix) → size in bytes.")

    def gate_value(self, metric: str) -> float | None:
        """The value of ``metric`` on the holdout, or None when the version was not measured on it."""
        return self.metrics.get(metric)


def utc_now() -> datetime:
    """Now, in UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0)


def iso_utc(when: datetime) -> str:
    """``2026-11-27T11:30:05Z``."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_version_id(number: int, when: datetime) -> str:
    """``v0003-20261127T1130Z`` for the 3rd version registered at ``when``."""
    return f"v{number:04d}-{when.astimezone(UTC).strftime('%Y%m%dT%H%MZ')}"


def version_number(version: str) -> int | None:
    """The sequence number of a version id, or None when ``version`` is not one."""
    match = _VERSION_RE.match(version)
    return int(match.group(1)) if match else None


def _git(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def code_revision(source: Path | None = None) -> CodeRevision:
    """The git revision of ``source`` (default: the directory pymk is imported from).

    ``dirty`` means tracked files differ from ``HEAD`` (untracked files are not counted). Without git or
    outside a checkout: ``commit="unknown"``, ``dirty=None``.
    """
    try:
        package_version = metadata.version("pymk")
    except metadata.PackageNotFoundError:
        package_version = "0+unknown"
    where = source or Path(__file__).resolve().parent
    commit = _git(where, "rev-parse", "HEAD")
    if not commit:
        return CodeRevision(commit="unknown", dirty=None, package_version=package_version)
    status = _git(where, "status", "--porcelain", "--untracked-files=no")
    return CodeRevision(
        commit=commit, dirty=None if status is None else bool(status), package_version=package_version
    )
