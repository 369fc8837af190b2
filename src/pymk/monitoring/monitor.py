"""The drift check of ``pymk monitor``, as one function a CLI or a Prefect flow calls: :func:`run_monitor`.

It compares the recent window of the home's offline event log (:mod:`pymk.io.eventlog`; the window ends
at the newest event) and the model's scores on it with the reference profile saved beside the model
version (``profile.json``, written by ``pymk train``), and records the outcome under
``PYMK_HOME/monitoring/``:

- ``drift-latest.json`` (replaced atomically; the operator console and ``/metrics`` read it)::

    {"generated_at": iso, "model_version": str, "window": {"start": iso, "end": iso, "events": int},
     "drifted": bool, "share_drifted": float,
     "features": [{"name", "kind", "stat", "value", "threshold", "drifted"}, ...],
     "reference_window": {...}, "voting_groups": [...], "share_threshold": float,
     "group_shares": {...}, "skipped": [...]}

- ``drift-history.jsonl``: the same object appended as one line per run (drift over time).

The current scores come from the version's own model restored on the current rows (its rankers applied
to features as of the window end), the same way the reference was built, so reference and current
differ only by the data.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pymk.config import Settings
from pymk.errors import PymkError
from pymk.monitoring.drift import DatasetDrift, DriftConfig, FeatureDrift, dataset_drift, parse_window
from pymk.monitoring.profile import EventData, Profile, Window, build_profile
from pymk.registry import ModelVersion, open_registry
from pymk.registry.manifest import iso_utc, utc_now

MONITORING_DIR = "monitoring"
LATEST = "drift-latest.json"
HISTORY = "drift-history.jsonl"


class NothingToMonitor(PymkError):
    """No active model version, or no event in the home to compare."""

    http_status = 409
    grpc_code = "FAILED_PRECONDITION"
    exit_code = 2


@dataclass(frozen=True)
class DriftReport:
    """One run of the drift check (see the module docstring for its JSON form)."""

    generated_at: str
    model_version: str
    window: Window
    reference_window: Window
    drift: DatasetDrift
    voting_groups: tuple[str, ...]
    share_threshold: float = 0.5

    @property
    def drifted(self) -> bool:
        """The verdict."""
        return self.drift.drifted

    @property
    def features(self) -> tuple[FeatureDrift, ...]:
        """Every feature compared."""
        return self.drift.features

    def to_dict(self) -> dict[str, Any]:
        """The ``drift-latest.json`` object."""
        return {
            "generated_at": self.generated_at,
            "model_version": self.model_version,
            "window": self.window.iso(),
            "drifted": self.drift.drifted,
            "share_drifted": self.drift.share_drifted,
            "features": [f.to_dict() for f in self.drift.features],
            "reference_window": self.reference_window.iso(),
            "voting_groups": list(self.voting_groups),
            "share_threshold": self.share_threshold,
            "group_shares": dict(self.drift.group_shares),
            "skipped": list(self.drift.skipped),
        }


def compare_profiles(reference: Profile, current: Profile, config: DriftConfig) -> DatasetDrift:
    """Compare every distribution of ``reference`` with the same-named one of ``current`` (missing or
    empty on either side: skipped)."""
    numeric = [(n, ref, current.numeric.get(n, np.empty(0))) for n, ref in reference.numeric.items()]
    categorical = [(n, ref, current.categorical.get(n, {})) for n, ref in reference.categorical.items()]
    return dataset_drift(numeric, categorical, config)


def monitoring_dir(settings: Settings) -> Path:
    """``PYMK_HOME/monitoring``."""
    return settings.home / MONITORING_DIR


def _version(settings: Settings, version: str | None) -> ModelVersion:
    registry = open_registry(settings)
    if version is not None:
        return registry.get(version)
    active = registry.active()
    if active is None:
        raise NothingToMonitor(
            f"no active model version under {settings.home / 'models'}: run `pymk train` (or give --version)"
        )
    return active


def current_profile(
    settings: Settings, model: ModelVersion, window_s: float, sample_size: int, data: EventData
) -> Profile:
    """The profile of the last ``window_s`` of ``data`` with ``model``'s scores (see the module doc)."""
    from pymk.models.bundle import load_bundle

    n_users = int(max(data.actor.max(initial=-1), data.target.max(initial=-1))) + 1
    rows = data.rows(n_users)
    pipeline = None
    if len(rows):
        bundle = load_bundle(model.path)
        pipeline = bundle.pipeline
        # As of the end of the current rows: the same rankers on today's graph.
        pipeline.restore(rows)
    return build_profile(
        data,
        window_s=window_s,
        pipeline=pipeline,
        sample_size=sample_size,
        seed=settings.seed,
        model_version=model.version,
    )


def run_monitor(
    settings: Settings,
    *,
    version: str | None = None,
    window: str | None = None,
    record: bool = True,
) -> DriftReport:
    """Compare the home's recent window with ``version``'s (default: the active version's) profile.

    ``window`` (``"24h"``, ``"7d"``...): default the reference profile's own window, so like is compared
    with like. With ``record`` (the default) writes ``drift-latest.json`` and appends to
    ``drift-history.jsonl``. Raises :class:`NothingToMonitor` (no model or no events),
    :class:`~pymk.registry.UnknownVersion`, :class:`~pymk.monitoring.profile.ProfileError` (the version
    has no profile) and :class:`~pymk.errors.InvalidInput` (a bad window).
    """
    window_s = parse_window(window) if window is not None else None
    model = _version(settings, version)
    reference = Profile.load(model.path)
    data = EventData.from_home(settings.home)
    if len(data) == 0:
        raise NothingToMonitor(f"no events under {settings.home}: import or stream some first")
    if window_s is None:
        window_s = reference.window.seconds or parse_window(settings.drift_window)
    current = current_profile(settings, model, window_s, reference.sample_size, data)
    config = DriftConfig.from_settings(settings)
    report = DriftReport(
        generated_at=iso_utc(utc_now()),
        model_version=model.version,
        window=current.window,
        reference_window=reference.window,
        drift=compare_profiles(reference, current, config),
        voting_groups=config.groups,
        share_threshold=config.share,
    )
    if record:
        write_report(settings, report)
    return report


def write_report(settings: Settings, report: DriftReport) -> Path:
    """Replace ``drift-latest.json`` (atomically) and append one line to ``drift-history.jsonl``."""
    folder = monitoring_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    body = report.to_dict()
    latest = folder / LATEST
    tmp = folder / f".{LATEST}.{uuid.uuid4().hex}.tmp"
    try:
        tmp.write_text(json.dumps(body, indent=2) + "\n")
        os.replace(tmp, latest)
    finally:
        tmp.unlink(missing_ok=True)
    with (folder / HISTORY).open("a") as handle:
        handle.write(json.dumps(body, separators=(",", ":")) + "\n")
    return latest


def read_history(settings: Settings) -> list[dict[str, Any]]:
    """Every readable line of ``drift-history.jsonl``, oldest first (unreadable lines are skipped)."""
    path = monitoring_dir(settings) / HISTORY
    out: list[dict[str, Any]] = []
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return out
    for line in lines:
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(item, dict) and isinstance(item.get("features"), list):
            out.append(item)
    return out
