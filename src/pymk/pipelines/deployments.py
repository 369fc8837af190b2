"""The flows on their schedules, as Prefect deployments served by this process.

Built without a server (``flow.to_deployment`` only describes); :func:`serve` registers them with the
Prefect API in ``PREFECT_API_URL`` and runs their scheduled runs here until stopped.
"""

from __future__ import annotations

from prefect.deployments.runner import RunnerDeployment

from pymk.pipelines.flows import batch_flow, drift_check_flow, retrain_flow

#: Daily retrain at 03:00 UTC, when traffic is lowest; the batch every hour, at minute 15; the drift
#: check daily at 02:30 UTC, before the retrain, so a drift alert names the version that saw the data.
RETRAIN_CRON = "0 3 * * *"
BATCH_CRON = "15 * * * *"
DRIFT_CRON = "30 2 * * *"


def deployments(home: str | None = None) -> list[RunnerDeployment]:
    """The retrain (daily), batch precompute (hourly) and drift check (daily) deployments, in UTC.

    The drift check's webhook is read from ``$PYMK_ALERT_WEBHOOK`` where the flow runs (a secret stays
    out of the deployment's parameters)."""
    params = {"home": home} if home else {}
    built = [
        retrain_flow.to_deployment(
            "pymk-retrain-daily", cron=RETRAIN_CRON, parameters=params, tags=["pymk", "training"]
        ),
        batch_flow.to_deployment(
            "pymk-batch-hourly", cron=BATCH_CRON, parameters=params, tags=["pymk", "batch"]
        ),
        drift_check_flow.to_deployment(
            "pymk-drift-daily", cron=DRIFT_CRON, parameters=params, tags=["pymk", "monitoring"]
        ),
    ]
    # Called from synchronous code, ``to_deployment`` returns the deployment itself (not a coroutine).
    return [d for d in built if isinstance(d, RunnerDeployment)]


def serve(home: str | None = None) -> None:  # pragma: no cover - runs until stopped, needs a server
    """Serve :func:`deployments` (blocks)."""
    from prefect import serve as prefect_serve

    prefect_serve(*deployments(home))
