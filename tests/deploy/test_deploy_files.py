"""The Dockerfile, docker-compose.yml and deploy/ files hold what production needs (read, not built)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pymk.config import Settings

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.unit

SERVICES = {"serve", "worker", "redis", "postgres", "mlflow", "kafka", "prometheus", "grafana"}
#: Read by load_settings itself rather than a Settings field.
EXTRA_PYMK_ENV = {"PYMK_CONFIG", "PYMK_IMAGE"}


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def _pymk_env_names(text: str) -> set[str]:
    return set(re.findall(r"\bPYMK_[A-Z0-9_]+", text))


def test_dockerfile_is_multi_stage_slim_non_root_with_a_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    stages = [line for line in lines if line.upper().startswith("FROM ")]
    assert len(stages) >= 2 and "python:3.11-slim" in text
    assert "download.pytorch.org/whl/cpu" in text and "COPY --from=builder" in text
    users = [line.split()[1] for line in lines if line.upper().startswith("USER ")]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    # Everything after the last FROM is the runtime image: its healthcheck, volume and command.
    runtime = text[text.rindex("\nFROM ") :]
    assert "HEALTHCHECK" in runtime and "/healthz" in runtime
    assert 'VOLUME ["/data/pymk"]' in runtime and "PYMK_HOME=/data/pymk" in runtime
    cmd = json.loads(next(line for line in reversed(lines) if line.startswith("CMD "))[4:])
    assert cmd[:2] == ["pymk", "serve"] and "0.0.0.0" in cmd


def test_compose_has_the_production_shape() -> None:
    services = _compose()["services"]
    assert SERVICES <= set(services)
    serve = services["serve"]
    assert serve["command"][:2] == ["pymk", "serve"] and serve["deploy"]["replicas"] >= 2
    assert services["worker"]["command"][:2] == ["pymk", "worker"]
    for name in ("serve", "worker"):
        env = services[name]["environment"]
        assert env["PYMK_EVENTS_URL"].startswith("kafka://kafka:")
        assert env["PYMK_LISTS_URL"].startswith("redis://redis:")
        assert env["PYMK_ONLINE_URL"].startswith("redis://redis:")
        assert env["PYMK_DEADLETTER_URL"].startswith("postgresql://")
        assert env["PYMK_TRACKING_URL"] == "http://mlflow:5000"
        assert "pymk-home:/data/pymk" in services[name]["volumes"]
    assert "postgresql://" in " ".join(services["mlflow"]["command"])
    kafka = services["kafka"]["environment"]
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    assert "./deploy/prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]
    assert any(v.startswith("./deploy/grafana/provisioning:") for v in services["grafana"]["volumes"])


@pytest.mark.parametrize(
    "path",
    ["docker-compose.yml", "deploy/k8s/configmap.yaml", "deploy/k8s/serve.yaml", "deploy/k8s/worker.yaml"],
)
def test_every_pymk_env_name_is_a_setting(path: str) -> None:
    names = _pymk_env_names((ROOT / path).read_text())
    fields = {f"PYMK_{name.upper()}" for name in Settings.model_fields}
    assert names and names - EXTRA_PYMK_ENV <= fields, sorted(names - EXTRA_PYMK_ENV - fields)


def test_settings_in_compose_and_configmap_load() -> None:
    """The values themselves are valid settings (e.g. the serving mode)."""
    env = _compose()["services"]["serve"]["environment"]
    config = next(yaml.safe_load_all((ROOT / "deploy/k8s/configmap.yaml").read_text()))["data"]
    for values in (env, config):
        fields = {k[5:].lower(): v for k, v in values.items() if k.startswith("PYMK_")}
        Settings(**fields)


def test_prometheus_rules_and_grafana_provisioning_parse() -> None:
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    # Relative to the config file: /etc/prometheus/rules in the container, deploy/prometheus/rules here.
    assert prometheus["rule_files"] == ["rules/*.yml"]
    rules = yaml.safe_load((ROOT / "deploy/prometheus/rules/pymk.yml").read_text())
    alerts = [r for g in rules["groups"] for r in g["rules"]]
    assert alerts and all({"alert", "expr", "labels", "annotations"} <= set(r) for r in alerts)
    source = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert source["datasources"][0]["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/pymk.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/pymk.json").read_text())
    uids = {t["datasource"]["uid"] for p in dashboard["panels"] for t in p.get("targets", [])}
    assert dashboard["panels"] and uids == {source["datasources"][0]["uid"]}


def test_k8s_manifests() -> None:
    docs = [
        d
        for p in sorted((ROOT / "deploy/k8s").glob("*.yaml"))
        for d in yaml.safe_load_all(p.read_text())
        if d
    ]
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert {
        ("Deployment", "pymk-serve"),
        ("Deployment", "pymk-worker"),
        ("HorizontalPodAutoscaler", "pymk-serve"),
        ("ConfigMap", "pymk-config"),
    } <= kinds
    serve = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "pymk-serve")
    (container,) = serve["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    for d in docs:
        if d["kind"] == "Deployment":
            assert d["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    hpa = next(d for d in docs if d["kind"] == "HorizontalPodAutoscaler")
    assert hpa["spec"]["minReplicas"] >= 2
