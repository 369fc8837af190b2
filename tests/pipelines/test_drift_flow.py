"""The drift-check flow under Prefect's test harness: a home whose stream was shifted (more new users,
more activity) alerts, by a logged error and a POST to a local webhook; an unshifted stream of the same
generator does not; a home with no model is skipped. The model is trained once on a reference stream."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from _tiny import TINY_PIPELINE
from pymk.config import load_settings
from pymk.io.importer import import_file
from pymk.models.bundle import config_from_dict
from pymk.pipelines.alerts import WEBHOOK_ENV, AlertNotSent, post_json
from pymk.sim import SimConfig, simulate, write_jsonl
from pymk.training.train import train_home

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated"),
]
_ENV = (
    "PYMK_CONFIG",
    "PYMK_HOME",
    "PYMK_SEED",
    "PYMK_DRIFT_WINDOW",
    "PYMK_DRIFT_VERDICT_GROUPS",
    WEBHOOK_ENV,
)
#: The generator of tests/monitoring/sim_streams.py: 60 days of 2,000 users; the shift speeds up arrivals
#: (about 20% -> 30% new users among the week's active ones) and multiplies messages and likes.
BASE = SimConfig(users=2000, days=60.0, epochs=20)
SHIFT = {"growth": 5.0, "messages_per_connection": 2.5, "likes_per_connection": 1.0}


class Webhook:
    """A local HTTP endpoint that keeps the JSON bodies POSTed to it and answers ``status``."""

    def __init__(self, status: int = 200) -> None:
        self.bodies: list[dict[str, Any]] = []
        received, answer = self.bodies, status

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(answer)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYMK_TRACKING_URL", "memory://")


def _import(home: Path, cfg: SimConfig) -> Path:
    events = home.parent / f"{home.name}.jsonl"
    write_jsonl(simulate(cfg), events)
    import_file(events, "events-jsonl", load_settings(home=home))
    return home


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A home trained on the reference stream (seed 1000); its profile covers the last 7 days."""
    with pytest.MonkeyPatch.context() as mp:
        for name in _ENV:
            mp.delenv(name, raising=False)
        mp.setenv("PYMK_TRACKING_URL", "memory://")
        home = _import(tmp_path_factory.mktemp("drift-flow") / "reference", replace(BASE, seed=1000))
        settings = load_settings(home=home, drift_window="7d", drift_sample_size=1500)
        train_home(settings, config=config_from_dict(TINY_PIPELINE))
        yield home


def _live(tmp_path: Path, reference: Path, shifted: bool) -> Path:
    """A home with a new stream (seed 1), shifted or not, serving the reference home's model."""
    cfg = replace(BASE, seed=1)
    cfg = replace(cfg, **SHIFT) if shifted else cfg  # type: ignore[arg-type]
    home = _import(tmp_path / ("shifted" if shifted else "unshifted"), cfg)
    shutil.copytree(reference / "models", home / "models")
    return home


def test_a_shifted_home_alerts_by_log_and_webhook(
    harness: None, reference: Path, tmp_path: Path, webhook: Webhook, caplog: pytest.LogCaptureFixture
) -> None:
    from pymk.pipelines import drift_check_flow

    home = _live(tmp_path, reference, shifted=True)
    outcome = drift_check_flow(home=str(home), webhook_url=webhook.url)
    assert outcome.drifted and outcome.alerted and outcome.webhook_status == 200
    assert {"new_user", "activity"} <= set(outcome.drifted_features)
    latest = json.loads((home / "monitoring" / "drift-latest.json").read_text())  # recorded as the CLI does
    assert latest["drifted"] and latest["model_version"] == outcome.model_version

    (alert,) = webhook.bodies
    assert alert["alert"] == "pymk-drift" and alert["model_version"] == outcome.model_version
    assert alert["home"] == str(home) and alert["share_drifted"] == latest["share_drifted"]
    assert {f["name"] for f in alert["drifted_features"]} == {
        f["name"] for f in latest["features"] if f["drifted"]
    }
    assert "new_user" in alert["summary"]
    errors = [r for r in caplog.records if r.levelname == "ERROR" and "DRIFT" in r.getMessage()]
    assert errors and outcome.model_version in errors[0].getMessage()


def test_an_unshifted_home_does_not_alert(
    harness: None, reference: Path, tmp_path: Path, webhook: Webhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pymk.pipelines import drift_check_flow

    monkeypatch.setenv(WEBHOOK_ENV, webhook.url)  # configured by the environment this time
    home = _live(tmp_path, reference, shifted=False)
    outcome = drift_check_flow(home=str(home))
    assert not outcome.drifted and not outcome.alerted and outcome.webhook_status is None
    assert outcome.model_version is not None and outcome.skipped is None
    assert webhook.bodies == []
    assert len((home / "monitoring" / "drift-history.jsonl").read_text().splitlines()) == 1


def test_the_environment_webhook_is_used_and_no_model_is_a_skip(
    harness: None, tmp_path: Path, webhook: Webhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pymk.pipelines import drift_check_flow

    monkeypatch.setenv(WEBHOOK_ENV, "ftp://example.invalid/hook")
    with pytest.raises(AlertNotSent, match=WEBHOOK_ENV):
        drift_check_flow(home=str(tmp_path / "empty"))
    monkeypatch.setenv(WEBHOOK_ENV, webhook.url)
    outcome = drift_check_flow(home=str(tmp_path / "empty"))
    assert outcome.skipped is not None and "no active model version" in outcome.skipped
    assert not outcome.alerted
    assert webhook.bodies == []


def test_post_json_reports_a_refusing_or_missing_webhook() -> None:
    refusing = Webhook(status=500)
    try:
        with pytest.raises(AlertNotSent, match="500"):
            post_json(refusing.url, {"alert": "x"})
        assert refusing.bodies == [{"alert": "x"}]
    finally:
        refusing.close()
    with pytest.raises(AlertNotSent, match="failed"):
        post_json(refusing.url, {"alert": "x"}, timeout_s=2.0)  # the server is gone
    with pytest.raises(AlertNotSent, match="http"):
        post_json("file:///etc/passwd", {})
