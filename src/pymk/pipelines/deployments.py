"""The flows on their schedules, as Prefect deployments served by this process.

Built without a server (``flow.to_deployment`` only describes); :func:`serve` registers them with the
Prefect API in ``PREFECT_API_URL`` and runs their scheduled runs here until stopped.
"""

from __future__ import annotations

from prefect.deployments.runner import RunnerDeployment

from pymk.pipelines.flows import batch_flow, retrain_flow

#: Daily retrain at 03:00 UTC, when traffic is lowest; the batch every hour, at minute 15.
RETRAIN_CRON = "0 3 * * *"
BATCH_CRON = "15 * * * *"


def deployments(home: str | None = None) -> list[RunnerDeployment]:
    """The retrain (daily) and batch precompute (hourly) deployments, both in UTC."""
    params = {"home": home} if home else {}
    built = [
        retrain_flow.to_deployment(
            "pymk-retrain-daily", cron=RETRAIN_CRON, parameters=params, tags=["pymk", "training"]
        ),
        batch_flow.to_deployment(
            "pymk-batch-hourly", cron=BATCH_CRON, parameters=params, tags=["pymk", "batch"]
        ),
    ]
    # Called from synchronous code, ``to_deployment`` returns the deployment itself (not a coroutine).
    return [d for d in built if isinstance(d, RunnerDeployment)]


def serve(home: str | None = None) -> None:  # pragma: no cover - runs until stopped, needs a server
    """Serve :func:`deployments` (blocks)."""
    from prefect import serve as prefect_serve

    prefect_serve(*deployments(home))
