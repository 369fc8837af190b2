"""Prefect 3 flows over the same functions the CLI calls: retrain, the hourly batch precompute, drift check.

- :func:`~pymk.pipelines.flows.retrain_flow`: snapshot the data → train (holdout metrics, register) →
  gate → precompute the candidate's lists → promote. What ``pymk train`` then ``pymk batch`` do, in
  the order that keeps the window with lists of another version short.
- :func:`~pymk.pipelines.flows.batch_flow`: ``pymk batch`` on the active version.
- :func:`~pymk.pipelines.flows.drift_check_flow`: ``pymk monitor``'s drift check; on drift, an error
  in the run's log and a JSON POST to the alert webhook when one is configured
  (:mod:`pymk.pipelines.alerts`).
- :func:`~pymk.pipelines.deployments.deployments`: all three on schedules (cron), served by
  ``python -m pymk.pipelines`` against a Prefect server (``PREFECT_API_URL``).

A flow called as a function runs in-process (Prefect starts a temporary local API when no server is
configured): ``pymk demo --retrain-flow`` and the tests run it that way.
"""

from __future__ import annotations

from pymk.pipelines.flows import DriftOutcome, RetrainOutcome, batch_flow, drift_check_flow, retrain_flow

__all__ = ["DriftOutcome", "RetrainOutcome", "batch_flow", "drift_check_flow", "retrain_flow"]
