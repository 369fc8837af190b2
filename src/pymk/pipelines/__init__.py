"""Prefect 3 flows over the same functions the CLI calls: retrain and the hourly batch precompute.

- :func:`~pymk.pipelines.flows.retrain_flow`: snapshot the data → train (holdout metrics, register) →
  gate → precompute the candidate's lists → promote. What ``pymk train`` then ``pymk batch`` do, in
  the order that keeps the window with lists of another version short.
- :func:`~pymk.pipelines.flows.batch_flow`: ``pymk batch`` on the active version.
- :func:`~pymk.pipelines.deployments.deployments`: both on schedules (cron), served by
  ``python -m pymk.pipelines`` against a Prefect server (``PREFECT_API_URL``).

A flow called as a function runs in-process (Prefect starts a temporary local API when no server is
configured): ``pymk demo --retrain-flow`` and the tests run it that way. No drift flow yet: pymk has no
drift computation to call (the monitoring issue adds it).
"""

from __future__ import annotations

from pymk.pipelines.flows import RetrainOutcome, batch_flow, retrain_flow

__all__ = ["RetrainOutcome", "batch_flow", "retrain_flow"]
