"""The HTTP API (DESIGN §5) as a raw ASGI application: no framework between the server and the handlers.

Measured on the 2-core machine (issue 4), a raw ASGI app on granian answered ~43k req/s against ~24k for
Starlette and ~7.4k for FastAPI/uvicorn, so routing, validation and errors are done here by hand; the
OpenAPI document is written out in :mod:`pymk.serving.openapi`. Every error is a JSON body
``{"error": <class>, "message": <text>}`` with the status its :class:`~pymk.errors.PymkError` names.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson

from pymk.errors import InvalidInput, NotFound, PayloadTooLarge, PymkError
from pymk.serving.intake import EventIntake
from pymk.serving.openapi import openapi_json
from pymk.serving.service import DEFAULT_K, RecommendationService

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
_JSON = [(b"content-type", b"application/json")]
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


def create_app(service: RecommendationService, intake: EventIntake | None = None) -> ASGIApp:
    """The ASGI app serving ``service``: recommendations, batch, healthz, readyz, openapi.json, and
    ``POST /v1/events`` into ``intake`` (without one that route is 404)."""
    openapi = openapi_json()

    async def route(scope: Scope, receive: Receive) -> tuple[int, bytes]:
        path: str = scope["path"]
        method: str = scope["method"]
        if path.startswith(_USERS) and path.endswith(_RECS):
            if method != "GET":
                raise MethodNotAllowed(f"{method} not allowed on {path}")
            raw = scope.get("raw_path") or path.encode()
            user_id = unquote(raw.split(b"?", 1)[0][len(_USERS) : -len(_RECS)].decode("utf-8", "replace"))
            return 200, service.one_json(user_id, _k(scope["query_string"]))
        if path == _BATCH:
            if method != "POST":
                raise MethodNotAllowed(f"{method} not allowed on {path}")
            user_ids, k = _batch_request(await _body(receive))
            return 200, service.batch_json(user_ids, k)
        if path == _EVENTS and intake is not None:
            if method != "POST":
                raise MethodNotAllowed(f"{method} not allowed on {path}")
            body = await _body(receive)
            # Publishing waits on the broker (or fsync): off the event loop, so reads keep flowing.
            return 202, orjson.dumps(await asyncio.to_thread(intake.submit, body))
        if path == "/healthz":
            return 200, b'{"status":"ok"}'
        if path == "/readyz":
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
        if path == "/openapi.json":
            return 200, openapi
        raise NotFound(f"no route {path}")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].rsplit(".", 1)[-1]
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        if scope["type"] != "http":
            return
        try:
            status, body = await route(scope, receive)
        except PymkError as exc:
            status, body = exc.http_status, orjson.dumps(exc.to_dict())
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            status, body = 500, b'{"error":"InternalError","message":"internal server error"}'
        await send({"type": "http.response.start", "status": status, "headers": _JSON})
        await send({"type": "http.response.body", "body": body})

    return app


def app_from_env() -> ASGIApp:
    """Factory for granian workers: settings from ``PYMK_*`` (as ``pymk serve`` exported them)."""
    from pymk.config import load_settings
    from pymk.serving.bootstrap import build_intake, build_service

    settings = load_settings()
    return create_app(build_service(settings), build_intake(settings))
