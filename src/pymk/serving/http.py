"""The HTTP API (DESIGN §5) as a raw ASGI application: no framework between the server and the handlers.

Measured on the 2-core machine (issue 4), a raw ASGI app on granian answered ~43k req/s against ~24k for
Starlette and ~7.4k for FastAPI/uvicorn, so routing, validation and errors are done here by hand; the
OpenAPI document is written out in :mod:`pymk.serving.openapi`. Every error is a JSON body
``{"error": <class>, "message": <text>}`` with the status its :class:`~pymk.errors.PymkError` names.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson

from pymk.errors import InvalidInput, NotFound, PayloadTooLarge, PymkError
from pymk.monitoring.logs import AccessLog, RequestIds
from pymk.monitoring.metrics import (
    CONTENT_TYPE,
    ServeMetrics,
    exposition,
    feedback_labels,
    multiprocess_dir,
)
from pymk.monitoring.recorder import RequestRecorder
from pymk.serving.intake import EventIntake
from pymk.serving.lists import StoredList
from pymk.serving.openapi import openapi_json
from pymk.serving.service import DEFAULT_K, RecommendationService, render

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY = 1 << 20
_USERS = "/v1/users/"
_RECS = "/recommendations"
_BATCH = "/v1/recommendations:batch"
_EVENTS = "/v1/events"
_JSON = (b"content-type", b"application/json")
_TEXT = (b"content-type", CONTENT_TYPE)
_REQUEST_ID = b"x-request-id"
#: Metric label of each fixed path (one label per route keeps the series few); unknown paths: "other".
_ENDPOINTS = {
    _BATCH: "batch",
    _EVENTS: "events",
    "/healthz": "healthz",
    "/readyz": "readyz",
    "/openapi.json": "openapi",
    "/metrics": "metrics",
}
_Lists = StoredList | list[StoredList] | None
"""What a route returned: the list of a GET, the found lists of a batch, or None."""
log = logging.getLogger(__name__)


class MalformedRequest(InvalidInput):
    """The body is not the JSON the endpoint takes."""

    http_status = 400


class MethodNotAllowed(PymkError):
    """The path exists, the method does not."""

    http_status = 405


def _k(query: bytes) -> int:
    if not query:
        return DEFAULT_K
    if query.startswith(b"k=") and query[2:].isdigit():  # the usual "k=20": no general parse
        return int(query[2:])
    values = parse_qs(query.decode("latin-1")).get("k")
    if not values:
        return DEFAULT_K
    try:
        return int(values[-1])
    except ValueError:
        raise InvalidInput(f"k must be an integer in 1..200, got {values[-1]!r}") from None


def _batch_request(body: bytes) -> tuple[list[str], int]:
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequest(f"body is not JSON: {exc}") from None
    if not isinstance(request, dict) or not isinstance(request.get("user_ids"), list):
        raise InvalidInput('body must be {"user_ids": [string, ...], "k": int}')
    user_ids, k = request["user_ids"], request.get("k", DEFAULT_K)
    if not all(isinstance(u, str) for u in user_ids):
        raise InvalidInput("user_ids must be strings")
    unknown = set(request) - {"user_ids", "k"}
    if unknown:
        raise InvalidInput(f"unknown fields: {', '.join(sorted(unknown))}")
    return user_ids, k


async def _body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise PayloadTooLarge(f"request body over {MAX_BODY} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def render_batch(
    user_ids: Sequence[str], results: Sequence[StoredList | NotFound], request_id: str | None = None
) -> bytes:
    """``service.batch``'s ``results`` as ``{"results": [...]}``, as ``RecommendationService.batch_json``
    (every list carries ``request_id``, the one id of the request, when given)."""
    parts = [
        render(u, r, request_id)
        if isinstance(r, StoredList)
        else orjson.dumps({"user_id": u, "error": r.to_dict()})
        for u, r in zip(user_ids, results, strict=True)
    ]
    return b'{"results":[' + b",".join(parts) + b"]}"


def _user_of(scope: Scope) -> str:
    """The user id of a ``/v1/users/{user_id}/recommendations`` request (percent-decoded)."""
    raw = scope.get("raw_path") or scope["path"].encode()
    return unquote(raw.split(b"?", 1)[0][len(_USERS) : -len(_RECS)].decode("utf-8", "replace"))


def create_app(
    service: RecommendationService,
    intake: EventIntake | None = None,
    *,
    metrics: ServeMetrics | None = None,
    access: AccessLog | None = None,
    flush_s: float = 1.0,
    metrics_enabled: bool = True,
) -> ASGIApp:
    """The ASGI app serving ``service``: recommendations, batch, healthz, readyz, openapi.json, metrics,
    and ``POST /v1/events`` into ``intake`` (without one that route is 404).

    Every answer carries an ``X-Request-Id`` header (the request's own when it sent a usable one; the
    lists of a recommendations or batch answer carry it as ``request_id`` too, for feedback events) and is
    counted in ``metrics`` (a fresh registry when None; see :mod:`pymk.monitoring.recorder`) and, sampled,
    logged by ``access``. In multiprocess mode a timer on the loop (started by the lifespan startup)
    flushes the counts every ``flush_s`` seconds. With ``metrics_enabled`` False nothing is counted
    (requests, intake, feedback) and ``GET /metrics`` answers 404 with a note; ids and logs stay."""
    openapi = openapi_json()
    metrics = metrics if metrics is not None else ServeMetrics()
    access = access if access is not None else AccessLog()
    recorder = RequestRecorder(
        metrics, flush_s=flush_s, late=lambda: service.late, versions=service.model_versions
    )
    request_ids = RequestIds()
    served: set[str] = set()  # model versions loaded or in the lists since start: feedback labels
    sample_rate, rand, clock = access.sample_rate, random.random, time.perf_counter
    worker_pid = os.getpid()  # in /readyz: which worker process answered (each loads its own model)

    async def route(
        endpoint: str, scope: Scope, receive: Receive, request_id: str
    ) -> tuple[int, bytes, _Lists]:
        path: str = scope["path"]
        method: str = scope["method"]
        if endpoint == "recommendations":
            if method != "GET":
                raise MethodNotAllowed(f"{method} not allowed on {path}")
            user_id = _user_of(scope)
            k = _k(scope["query_string"])
            # Real-time calls are awaited, not blocked on: requests waiting together share a batch.
            found = await service.one_async(user_id, k)
            return 200, render(user_id, found, request_id), found
        if endpoint == "batch":
            if method != "POST":
                raise MethodNotAllowed(f"{method} not allowed on {path}")
            user_ids, k = _batch_request(await _body(receive))
            results = await service.batch_async(user_ids, k)
            body = render_batch(user_ids, results, request_id)
            return 200, body, [r for r in results if isinstance(r, StoredList)]
        if endpoint == "events" and intake is not None:
            if method != "POST":
                raise MethodNotAllowed(f"{method} not allowed on {path}")
            body = await _body(receive)
            # Publishing waits on the broker (or fsync): off the event loop, so reads keep flowing.
            submission = await asyncio.to_thread(intake.accept, body)
            result = submission.reply
            if not metrics_enabled:
                return 202, orjson.dumps(result), None
            metrics.intake.labels("accepted").inc(result["accepted"])
            metrics.intake.labels("rejected").inc(result["rejected"])
            for error in result["errors"]:
                metrics.intake_dead_letters.labels(error["reason"]).inc()
            served.update(service.model_versions())
            lists_info = service.store.info()
            if lists_info is not None:
                served.add(lists_info.model_version)
            for labels, n in feedback_labels(submission.events, served).items():
                metrics.feedback.labels(*labels).inc(n)
            return 202, orjson.dumps(result), None
        if endpoint == "healthz":
            return 200, b'{"status":"ok"}', None
        if endpoint == "readyz":
            info = service.ready()
            if info is None:
                return 503, b'{"status":"not ready","reason":"no precomputed lists or model loaded"}', None
            return (
                200,
                orjson.dumps(
                    {
                        "status": "ready",
                        "model_version": info.model_version,
                        "users": info.users,
                        "models": service.model_versions(),
                        "mode": service.mode,
                        "snapshots": service.snapshots(),
                        "worker_pid": worker_pid,
                    }
                ),
                None,
            )
        if endpoint == "openapi":
            return 200, openapi, None
        if endpoint == "metrics":
            if not metrics_enabled:
                raise NotFound("metrics are off on this server (PYMK_METRICS_ENABLED=false)")
            recorder.flush()
            return 200, exposition(metrics.registry), None
        raise NotFound(f"no route {path}")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].rsplit(".", 1)[-1]
                if kind == "startup" and metrics_enabled and multiprocess_dir() is not None:
                    recorder.start(asyncio.get_running_loop())  # idle workers' counts reach /metrics too
                if kind == "shutdown" and metrics_enabled:
                    recorder.close()
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        if scope["type"] != "http":
            return
        started = clock()
        if metrics_enabled:
            recorder.in_flight += 1
        incoming = None
        for name, value in scope["headers"]:
            if name == _REQUEST_ID:
                incoming = value
                break
        request_id = request_ids(incoming)
        path: str = scope["path"]
        endpoint = (
            "recommendations"
            if path.startswith(_USERS) and path.endswith(_RECS)
            else _ENDPOINTS.get(path, "other")
        )
        lists: _Lists = None
        try:
            status, body, lists = await route(endpoint, scope, receive, request_id.decode())
        except PymkError as exc:
            status, body = exc.http_status, orjson.dumps(exc.to_dict())
        except Exception:
            log.exception(
                "unhandled error on %s %s",
                scope.get("method"),
                endpoint,
                extra={"request_id": request_id.decode(), "endpoint": endpoint},
            )
            status, body = 500, b'{"error":"InternalError","message":"internal server error"}'
        content = _TEXT if endpoint == "metrics" and status == 200 else _JSON
        await send(
            {"type": "http.response.start", "status": status, "headers": [content, (_REQUEST_ID, request_id)]}
        )
        await send({"type": "http.response.body", "body": body})
        now = clock()
        if not metrics_enabled:
            pass
        elif isinstance(lists, StoredList):  # the hot path: one list
            recorder.record(endpoint, lists.source, status, now - started, len(lists.items), now)
        else:
            recorder.record_many(
                endpoint, status, now - started, [(f.source, len(f)) for f in lists or ()], now
            )
        if status >= 400 or rand() < sample_rate:
            first = lists if isinstance(lists, StoredList) else lists[0] if lists else None
            access.write(
                request_id.decode(),
                endpoint,
                scope["method"],
                status,
                now - started,
                model_version=None if first is None else first.model_version,
                source=None if first is None else first.source,
                user_id=_user_of(scope) if endpoint == "recommendations" else None,
            )

    return app


def app_from_env() -> ASGIApp:
    """Factory for granian workers: settings from ``PYMK_*`` (as ``pymk serve`` exported them); the
    operator console (:mod:`pymk.serving.console`) in front of the API at ``/console``."""
    from pymk.config import load_settings
    from pymk.monitoring.logs import configure_logging
    from pymk.registry import open_registry
    from pymk.serving.bootstrap import build_intake, build_serving
    from pymk.serving.console import Console, with_console

    settings = load_settings()
    configure_logging(settings.log_level)
    service, follower = build_serving(settings)
    api = create_app(
        service,
        build_intake(settings),
        access=AccessLog(settings.log_sample_rate),
        flush_s=settings.metrics_flush_s,
        metrics_enabled=settings.metrics_enabled,
    )
    console = Console(service, registry=open_registry(settings), home=settings.home, follower=follower)
    return with_console(api, console)
