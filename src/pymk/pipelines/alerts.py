"""Drift alerts: the JSON body the drift-check flow sends, and the POST that sends it.

The webhook is any endpoint that takes a JSON POST (a Slack or Teams incoming webhook behind a relay,
Alertmanager's or PagerDuty's generic webhook receivers, an internal alert router). Its URL comes from
the flow's ``webhook_url`` parameter or else the :data:`WEBHOOK_ENV` environment variable; with neither,
the flow only logs the alert.
"""

from __future__ import annotations

import json
import os
import urllib.request
from typing import Any

from pymk.errors import PymkError
from pymk.monitoring.monitor import DriftReport

#: Environment variable holding the alert webhook URL when the flow is given none.
WEBHOOK_ENV = "PYMK_ALERT_WEBHOOK"
#: Seconds to wait for the webhook to answer.
TIMEOUT_S = 10.0


class AlertNotSent(PymkError):
    """The webhook refused the alert or could not be reached."""


def webhook_url(given: str | None) -> str | None:
    """``given``, else ``$PYMK_ALERT_WEBHOOK``; None when both are empty. Raises :class:`AlertNotSent`
    for a URL that is not http(s) (a typo should fail the run, not swallow the alert)."""
    url = (given or os.environ.get(WEBHOOK_ENV, "")).strip()
    if not url:
        return None
    if not url.startswith(("http://", "https://")):
        raise AlertNotSent(
            f"alert webhook must be an http(s) URL, got {url!r} (webhook_url or {WEBHOOK_ENV})"
        )
    return url


def drift_alert(report: DriftReport, home: str) -> dict[str, Any]:
    """The alert body: ``{"alert": "pymk-drift", "severity": "warning", "summary": str, "home": str,
    "model_version", "generated_at", "window": {start, end, events}, "share_drifted", "share_threshold",
    "voting_groups": [...], "drifted_features": [{"name", "stat", "value", "threshold"}, ...]}``
    (numbers as JSON numbers; a statistic that is infinite is sent as null)."""
    drifted = [f for f in report.features if f.drifted]
    names = ", ".join(f.name for f in drifted) or "none"
    return {
        "alert": "pymk-drift",
        "severity": "warning",
        "summary": (
            f"pymk: data drift against {report.model_version}: {report.drift.share_drifted:.0%} of the "
            f"voting features drifted (threshold {report.share_threshold:.0%}): {names}"
        ),
        "home": home,
        "model_version": report.model_version,
        "generated_at": report.generated_at,
        "window": report.window.iso(),
        "share_drifted": report.drift.share_drifted,
        "share_threshold": report.share_threshold,
        "voting_groups": list(report.voting_groups),
        "drifted_features": [
            {"name": f.name, "stat": f.stat, "value": _number(f.value), "threshold": f.threshold}
            for f in drifted
        ],
    }


def _number(value: float) -> float | None:
    return value if value == value and abs(value) != float("inf") else None


def post_json(url: str, body: dict[str, Any], timeout_s: float = TIMEOUT_S) -> int:
    """POST ``body`` as JSON to ``url``; returns the status (2xx). Raises :class:`AlertNotSent` on any
    other status or a connection failure."""
    if not url.startswith(("http://", "https://")):  # urlopen would also read file:// and ftp://
        raise AlertNotSent(f"alert webhook must be an http(s) URL, got {url!r}")
    data = json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            status = int(response.status)
    except OSError as exc:  # URLError, HTTPError (non-2xx), timeouts
        raise AlertNotSent(f"alert webhook {url} failed: {exc}") from exc
    if not 200 <= status < 300:
        raise AlertNotSent(f"alert webhook {url} answered HTTP {status}")
    return status
