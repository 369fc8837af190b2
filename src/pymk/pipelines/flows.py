"""The flows. Parameters are JSON values (a deployment's schedule passes them); settings come from
``PYMK_*`` and the config file as for every command, with ``home`` overriding ``PYMK_HOME``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from pymk.config import Settings, load_settings
from pymk.models.bundle import config_from_dict
from pymk.models.pipeline import PipelineConfig
from pymk.monitoring.monitor import NothingToMonitor
from pymk.pipelines import alerts, tasks


@dataclass(frozen=True)
class RetrainOutcome:
    """What one retrain did. ``skipped`` says why nothing was trained; ``gate`` why nothing was promoted."""

    version: str | None = None
    promoted: bool = False
    gate: str | None = None
    skipped: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    lists: int = 0
    data_fingerprint: str = ""


def _settings(home: str | None) -> Settings:
    return load_settings(home=Path(home) if home else None)


def _pipeline(settings: Settings, overrides: dict[str, Any] | None) -> PipelineConfig:
    config: PipelineConfig = config_from_dict({**(overrides or {}), "seed": settings.seed}, PipelineConfig)
    return config


@flow(name="pymk-retrain", validate_parameters=True)
def retrain_flow(
    home: str | None = None,
    pipeline: dict[str, Any] | None = None,
    holdout_fraction: float = 0.2,
    k: int = 50,
    force: bool = False,
) -> RetrainOutcome:
    """Snapshot → train (holdout metrics, register) → gate → precompute the lists → promote.

    Skips training when the data is what the active version was fitted on (unless ``force``). A
    version the gate refuses stays registered, unpromoted, and the stored lists are left alone.
    ``pipeline``: PipelineConfig overrides as ``pymk train --pipeline-config`` takes them.
    """
    log = get_run_logger()
    settings = _settings(home)
    snap = tasks.snapshot_data(settings)
    if not force and snap.fingerprint == snap.active_fingerprint:
        log.info("data %s unchanged since the active version: nothing to retrain", snap.fingerprint[:12])
        return RetrainOutcome(
            skipped="data unchanged since the active version", data_fingerprint=snap.fingerprint
        )
    trained = tasks.train_candidate(settings, _pipeline(settings, pipeline), holdout_fraction)
    outcome = RetrainOutcome(
        version=trained.version, metrics=trained.metrics, data_fingerprint=trained.data_fingerprint
    )
    refused = tasks.gate(settings, trained.version)
    if refused is not None:
        log.warning("%s stays registered, not promoted: %s", trained.version, refused)
        return RetrainOutcome(**{**outcome.__dict__, "gate": refused})
    lists = tasks.precompute_candidate(settings, trained.version, k)
    tasks.promote(settings, trained.version)
    log.info("active: %s (%d lists of up to %d)", trained.version, lists.users, k)
    return RetrainOutcome(**{**outcome.__dict__, "promoted": True, "lists": lists.users})


@flow(name="pymk-batch", validate_parameters=True)
def batch_flow(home: str | None = None, k: int = 50, workers: int | None = None) -> int:
    """``pymk batch`` on a schedule: the active version's lists for every user; returns how many."""
    run = tasks.batch_active(_settings(home), k, workers)
    get_run_logger().info(
        "precomputed %d lists with %s in %.1f s", run.info.users, run.info.model_version, run.seconds
    )
    users: int = run.info.users
    return users


@dataclass(frozen=True)
class DriftOutcome:
    """What one drift check found. ``skipped`` says why nothing was compared (no model, no events);
    ``alerted``: drift was found and the alert logged; ``webhook_status``: the webhook's HTTP status when
    the alert was also POSTed (None when no webhook is configured or nothing was sent)."""

    model_version: str | None = None
    drifted: bool = False
    share_drifted: float = 0.0
    drifted_features: list[str] = field(default_factory=list)
    alerted: bool = False
    webhook_status: int | None = None
    skipped: str | None = None


@flow(name="pymk-drift-check", validate_parameters=True)
def drift_check_flow(
    home: str | None = None,
    version: str | None = None,
    window: str | None = None,
    webhook_url: str | None = None,
) -> DriftOutcome:
    """``pymk monitor``'s drift check, then an alert when drift is found.

    The check is :func:`~pymk.monitoring.monitor.run_monitor` (recorded in ``drift-latest.json`` and
    ``drift-history.jsonl`` as the CLI records it; ``version``/``window`` as ``--version``/``--window``).
    On drift it logs an error naming the drifted features and, when a webhook is configured
    (``webhook_url``, else ``$PYMK_ALERT_WEBHOOK``), POSTs :func:`~pymk.pipelines.alerts.drift_alert` to
    it (retried; the run fails when it cannot be delivered). No active model or no events: the check is
    skipped with a warning.
    """
    log = get_run_logger()
    settings = _settings(home)
    url = alerts.webhook_url(webhook_url)
    try:
        report = tasks.check_drift(settings, version, window)
    except NothingToMonitor as exc:
        log.warning("drift check skipped: %s", exc.message)
        return DriftOutcome(skipped=exc.message)
    drifted = [f.name for f in report.features if f.drifted]
    outcome = DriftOutcome(
        model_version=report.model_version,
        drifted=report.drifted,
        share_drifted=report.drift.share_drifted,
        drifted_features=drifted,
    )
    if not report.drifted:
        log.info(
            "no drift against %s (%.0f%% of the voting features)",
            report.model_version,
            100 * outcome.share_drifted,
        )
        return outcome
    alert = alerts.drift_alert(report, str(settings.home))
    log.error("DRIFT: %s", alert["summary"])
    status = tasks.send_alert(url, alert) if url is not None else None
    return DriftOutcome(**{**outcome.__dict__, "alerted": True, "webhook_status": status})
