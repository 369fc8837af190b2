"""``pymk serve``: the HTTP API on granian (raw ASGI) and gRPC beside it, over the precomputed lists."""

from __future__ import annotations

import atexit
import multiprocessing
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from pymk.cli.common import ConfigOption, HomeOption, console, settings_from, user_errors
from pymk.errors import ConfigError

_HELP = """Serve recommendations over HTTP (DESIGN §5) and gRPC (pymk.v1.Recommender).

Loads the registry's active model version at start and follows promotes (PYMK_MODEL_POLL_S) without a
restart or a dropped request; PYMK_AB_VERSION and PYMK_AB_SHARE send a stable share of users to a
challenger version. PYMK_SERVING_MODE: hybrid (default: the precomputed lists of `pymk batch`,
re-filtered with fresh state; the model in real time when the lists are of another version),
realtime (the model on every request; past PYMK_REALTIME_BUDGET_MS, 50 by default, the list answers)
or precomputed. PYMK_SNAPSHOT_REFRESH_S (0: off) re-states the loaded versions on the home's
interactions when they change (new users, connections, activity), rankers kept, so real-time answers
score against the current graph; /readyz reports each version's snapshot time and rows. Lists live
in PYMK_HOME (or Redis: PYMK_LISTS_URL) and are picked up when a new batch commits. /readyz answers
503 until lists and the active model are loaded. With a shared online store
(PYMK_ONLINE_URL=redis://...) the server follows its graph-delta log every PYMK_FOLLOW_INTERVAL_MS (50):
connects, blocks and deletions applied by `pymk worker` reach every answer within about that, and users
first seen in the stream get a cold-start list. POST /v1/events publishes valid events to PYMK_EVENTS_URL
(invalid ones go to the dead-letter store). gRPC runs in its own process
on --grpc-port unless --no-grpc. Every worker process loads the model itself (memory x workers).
GET /metrics (Prometheus) adds up every worker process and the gRPC one (files in a fresh private
temporary directory per server, so replicas sharing PYMK_HOME, or a read-only PYMK_HOME, are fine;
PYMK_METRICS_ENABLED=false records none and answers /metrics with 404); logs are JSON lines on
stderr at PYMK_LOG_LEVEL, one per error and per PYMK_LOG_SAMPLE_RATE of the other requests, each with
its X-Request-Id.
"""


def _grpc_child(address: str) -> None:
    """Entry point of the gRPC process (spawned: no state shared with the HTTP workers)."""
    from pymk.serving.grpc_server import serve_from_env

    serve_from_env(address)


def _check_free(host: str, port: int, what: str) -> None:
    """Fail before starting anything when ``port`` is taken (the gRPC process would die unseen)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen for {what} on {host}:{port}: {exc.strerror}") from None


def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8000,
    grpc_port: Annotated[int, typer.Option(help="gRPC port.")] = 50051,
    grpc: Annotated[bool, typer.Option("--grpc/--no-grpc", help="Also serve gRPC.")] = True,
    workers: Annotated[int, typer.Option(min=1, help="HTTP worker processes (one per core is fastest).")] = 1,
    home: HomeOption = None,
    config: ConfigOption = None,
) -> None:
    with user_errors():
        from pymk.stores import list_store

        settings = settings_from(home, config)
        _check_free(host, port, "HTTP")
        if grpc:
            _check_free(host, grpc_port, "gRPC")
        store = list_store(settings)
        info = store.info()
        store.close()
        from pymk.registry import open_registry

        active = open_registry(settings).active()
    mode = settings.serving_mode
    if active is None:
        console.print("no active model version yet (`pymk train` registers one): lists only")
    else:
        console.print(
            f"model {active.version} active; mode {mode}, real-time budget {settings.realtime_budget_ms:g} ms"
        )
    if info is None:
        console.print("no precomputed lists yet (`pymk batch` writes them): /readyz answers 503 until then")
    else:
        console.print(f"serving model {info.model_version}: lists of {info.users} users, k <= {info.k}")
    # Workers and the gRPC process build their own settings from the environment: hand them ours.
    os.environ["PYMK_HOME"] = str(settings.home.resolve())
    # Before any worker starts: every process writes its metrics there, /metrics adds them up.
    from pymk.monitoring.logs import configure_logging
    from pymk.monitoring.metrics import use_multiprocess_dir

    configure_logging(settings.log_level)
    metrics_dir = use_multiprocess_dir(Path(tempfile.mkdtemp(prefix=f"pymk-metrics-{port}-")))
    atexit.register(shutil.rmtree, metrics_dir, True)
    if config is not None:
        os.environ["PYMK_CONFIG"] = str(config.resolve())

    from granian import Granian
    from granian.constants import Interfaces

    child = None
    if grpc:
        child = multiprocessing.get_context("spawn").Process(
            target=_grpc_child, args=(f"{host}:{grpc_port}",), name="pymk-grpc", daemon=True
        )
        child.start()
        console.print(f"gRPC on {host}:{grpc_port}")
    console.print(f"HTTP on http://{host}:{port} (OpenAPI at /openapi.json, metrics at /metrics)")
    console.print(f"metrics of the worker processes under {metrics_dir}", highlight=False)
    try:
        Granian(
            "pymk.serving.http:app_from_env",
            address=host,
            port=port,
            interface=Interfaces.ASGI,
            workers=workers,
            factory=True,
        ).serve()
    finally:
        if child is not None:
            child.terminate()
            child.join(5)


def register(app: typer.Typer) -> None:
    """Add ``pymk serve`` to ``app``."""
    app.command("serve", help=_HELP)(serve_command)
