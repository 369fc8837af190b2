"""The HTTP API (DESIGN §5) as a raw ASGI application: no framework between the server and the handlers.

Measured on the 2-core machine (issue 4), a raw ASGI app on granian answered ~43k req/s against ~24k for
Starlette and ~7.4k for FastAPI/uvicorn, so routing, validation and errors are done here by hand; the
OpenAPI document is written out in :mod:`pymk.serving.openapi`. Every error is a JSON body
``{"error": <class>, "message": <text>}`` with the status its :class:`~pymk.errors.PymkError` names.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson

from pymk.errors import InvalidInput, NotFound, PayloadTooLarge, PymkError
from pymk.monitoring.logs import AccessLog, RequestIds
from pymk.monitoring.metrics import CONTENT_TYPE, ServeMetrics, exposition, multiprocess_dir
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


class _Answer:
    """What a route found out about its answer, for the metrics and the request log."""

    __slots__ = ("source", "lengths", "sources", "model_version", "user_id")

    def __init__(self) -> None:
        self.source = "none"
        self.lengths: tuple[int, ...] = ()
        self.sources: tuple[str, ...] = ()
        self.model_version: str | None = None
        self.user_id: str | None = None

    def lists(self, found: list[StoredList]) -> None:
        self.lengths = tuple(len(f) for f in found)
        self.sources = tuple(f.source for f in found)
        kinds = set(self.sources)
        self.source = kinds.pop() if len(kinds) == 1 else "mixed" if kinds else "none"
        self.model_version = found[0].model_version if found else None


def render_batch(user_ids: Sequence[str], results: Sequence[StoredList | NotFound]) -> bytes:
    """``service.batch``'s ``results`` as ``{"results": [...]}``, as ``RecommendationService.batch_json``."""
    parts = [
        render(u, r) if isinstance(r, StoredList) else orjson.dumps({"user_id": u, "error": r.to_dict()})
        for u, r in zip(user_ids, results, strict=True)
    ]
    return b'{"results":[' + b",".join(parts) + b"]}"


def endpoint_of(path: str) -> str:
    """The metric label of ``path``: recommendations, batch, events, healthz, ... or other."""
    if path.startswith(_USERS) and path.endswith(_RECS):
        return "recommendations"
    return _ENDPOINTS.get(path, "other")


def create_app(
    service: RecommendationService,
    intake: EventIntake | None = None,
    *,
    metrics: ServeMetrics | None = None,
    access: AccessLog | None = None,
    flush_s: float = 1.0,
) -> ASGIApp:
    """The ASGI app serving ``service``: recommendations, batch, healthz, readyz, openapi.json, metrics,
    and ``POST /v1/events`` into ``intake`` (without one that route is 404).

    Every answer carries an ``X-Request-Id`` header (the request's own when it sent a usable one) and is
    counted in ``metrics`` (a fresh registry when None; see :mod:`pymk.monitoring.recorder`) and, sampled,
    logged by ``access``. In multiprocess mode a thread flushes the counts every ``flush_s`` seconds."""
    openapi = openapi_json()
    metrics = metrics if metrics is not None else ServeMetrics()
    access = access if access is not None else AccessLog()
    recorder = RequestRecorder(
        metrics, flush_s=flush_s, late=lambda: service.late, versions=service.model_versions
    )
    if multiprocess_dir() is not None:
        recorder.start()
    request_ids = RequestIds()

    async def route(endpoint: str, scope: Scope, receive: Receive, answer: _Answer) -> tuple[int, bytes]:
        path: str = scope["path"]
        method: str = scope["method"]
        if endpoint == "recommendations":
            if method != "GET":
                raise MethodNotAllowed(f"{method} not allowed on {path}")
            raw = scope.get("raw_path") or path.encode()
            user_id = unquote(raw.split(b"?", 1)[0][len(_USERS) : -len(_RECS)].decode("utf-8", "replace"))
            answer.user_id = user_id
            found = service.one(user_id, _k(scope["query_string"]))
            answer.lists([found])
            return 200, render(user_id, found)
        if endpoint == "batch":
            if method != "POST":
                raise MethodNotAllowed(f"{method} not allowed on {path}")
            user_ids, k = _batch_request(await _body(receive))
            results = service.batch(user_ids, k)
            answer.lists([r for r in results if isinstance(r, StoredList)])
            return 200, render_batch(user_ids, results)
        if endpoint == "events" and intake is not None:
            if method != "POST":
                raise MethodNotAllowed(f"{method} not allowed on {path}")
            body = await _body(receive)
            # Publishing waits on the broker (or fsync): off the event loop, so reads keep flowing.
            return 202, orjson.dumps(await asyncio.to_thread(intake.submit, body))
        if endpoint == "healthz":
            return 200, b'{"status":"ok"}'
        if endpoint == "readyz":
            info = service.ready()
            if info is None:
                return 503, b'{"status":"not ready","reason":"no precomputed lists or model loaded"}'
            return 200, orjson.dumps(
                {
                    "status": "ready",
                    "model_version": info.model_version,
                    "users": info.users,
                    "models": service.model_versions(),
                    "mode": service.mode,
                }
            )
        if endpoint == "openapi":
            return 200, openapi
        if endpoint == "metrics":
            recorder.flush()
            return 200, exposition(metrics.registry)
        raise NotFound(f"no route {path}")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].rsplit(".", 1)[-1]
                if kind == "shutdown":
                    recorder.close()
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        recorder.started()
        incoming = None
        for name, value in scope.get("headers", ()):
            if name == _REQUEST_ID:
                incoming = value
                break
        request_id = request_ids(incoming)
        endpoint = endpoint_of(scope["path"])
        answer = _Answer()
        try:
            status, body = await route(endpoint, scope, receive, answer)
        except PymkError as exc:
            status, body = exc.http_status, orjson.dumps(exc.to_dict())
        except Exception:
            log.exception(
                "unhandled error on %s %s",
                scope.get("method"),
                endpoint,
                extra={"request_id": request_id, "endpoint": endpoint},
            )
            status, body = 500, b'{"error":"InternalError","message":"internal server error"}'
        headers = [
            _TEXT if endpoint == "metrics" and status == 200 else _JSON,
            (_REQUEST_ID, request_id.encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        seconds = time.perf_counter() - started
        recorder.record(endpoint, answer.source, status, seconds, answer.lengths, answer.sources)
        if access.wants(status):
            access.write(
                request_id,
                endpoint,
                scope["method"],
                status,
                seconds,
                model_version=answer.model_version,
                source=answer.source,
                user_id=answer.user_id,
            )

    return app


def app_from_env() -> ASGIApp:
    """Factory for granian workers: settings from ``PYMK_*`` (as ``pymk serve`` exported them)."""
    from pymk.config import load_settings
    from pymk.monitoring.logs import configure_logging
    from pymk.serving.bootstrap import build_intake, build_service

    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(
        build_service(settings),
        build_intake(settings),
        access=AccessLog(settings.log_sample_rate),
        flush_s=settings.metrics_flush_s,
    )
