"""The operator console: a read-only web page at ``/console`` over what one serving process knows.

:func:`with_console` puts it in front of the API app with one prefix check, so the API's own requests
pay one ``str.startswith`` and nothing else. The page (``console/index.html``, ``console.js``,
``console.css``: plain HTML and JavaScript, no build step, nothing fetched from elsewhere) reads three
JSON endpoints, computed off the event loop (a registry listing reads manifests from disk):

- ``GET /console/api/users/{user_id}?k=10``: the user's recommendations exactly as
  ``GET /v1/users/{user_id}/recommendations`` answers them (same service call), their age in seconds,
  and the neighbourhood (:mod:`pymk.serving.console_data`); unknown user 404, bad ``k`` 422;
- ``GET /console/api/models``: registry versions (newest first) with their metrics, the active one,
  the versions this process has loaded and the A/B split;
- ``GET /console/api/health``: the last drift report (``PYMK_HOME/monitoring/drift-latest.json``,
  written by ``pymk monitor``) and freshness: the lists' age, the loaded models' graph age, how far
  the delta follower is behind the online store.

Every answer is JSON ``{"error", "message"}`` on failure, as the API's. The page inserts data into the
DOM as text nodes only (user ids are untrusted) and is served with a Content-Security-Policy that
allows scripts and styles from this origin only. There are no admin actions.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson

from pymk.errors import InvalidInput, NotFound, PymkError
from pymk.registry import ModelRegistry
from pymk.serving.console_data import Snapshot, health, models, user_view
from pymk.serving.follow import DeltaFollower
from pymk.serving.service import RecommendationService

log = logging.getLogger(__name__)

PREFIX = "/console"
_API = "/console/api/"
_USERS = "/console/api/users/"
_PAGE_K = 10
_JSON = (b"content-type", b"application/json")
_SECURITY = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
        b"base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-cache"),
]
_STATIC = {
    "": ("index.html", b"text/html; charset=utf-8"),
    "/": ("index.html", b"text/html; charset=utf-8"),
    "/console.js": ("console.js", b"text/javascript; charset=utf-8"),
    "/console.css": ("console.css", b"text/css; charset=utf-8"),
}

Scope = Any
ASGIApp = Callable[[Scope, Any, Any], Any]


def _static_files() -> dict[str, tuple[bytes, bytes]]:
    """Path under ``/console`` -> (body, content type), read once from the package."""
    folder = resources.files("pymk.serving").joinpath("console")
    return {path: (folder.joinpath(name).read_bytes(), kind) for path, (name, kind) in _STATIC.items()}


def _k(query: bytes) -> int:
    """``k`` of the query string (default 10); 422 when it is not an integer (range: the service's)."""
    values = parse_qs(query.decode("latin-1")).get("k")
    if not values:
        return _PAGE_K
    try:
        return int(values[-1])
    except ValueError:
        raise InvalidInput(f"k must be an integer in 1..200, got {values[-1]!r}") from None


class Console:
    """The console's routes over one process's ``service``.

    ``registry``: where versions and the active pointer are read (None: the models panel lists only
    what is loaded); ``home``: ``PYMK_HOME`` for the drift report (None: no report); ``follower``: the
    process's delta follower (None: no shared online store is followed).
    """

    def __init__(
        self,
        service: RecommendationService,
        *,
        registry: ModelRegistry | None = None,
        home: Path | None = None,
        follower: DeltaFollower | None = None,
    ) -> None:
        self.snapshot = Snapshot(service, registry, home, follower)
        self.static = _static_files()

    def _api(self, method: str, path: str, raw_path: bytes, query: bytes) -> dict[str, Any]:
        """The JSON object of one API call (runs on a worker thread)."""
        if method != "GET":
            raise _MethodNotAllowed(f"{method} not allowed on {path} (the console is read-only)")
        if path.startswith(_USERS):
            user_id = unquote(raw_path.split(b"?", 1)[0][len(_USERS) :].decode("utf-8", "replace"))
            if not user_id:
                raise InvalidInput("user_id is empty")
            return user_view(self.snapshot, user_id, _k(query))
        if path == _API + "models":
            return models(self.snapshot)
        if path == _API + "health":
            return health(self.snapshot)
        raise NotFound(f"no console route {path}")

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        path: str = scope["path"]
        headers = [*_SECURITY]
        if path.startswith(_API):
            raw_path = scope.get("raw_path") or path.encode()
            try:
                found = await asyncio.to_thread(
                    self._api, scope["method"], path, raw_path, scope.get("query_string", b"")
                )
                status, body = 200, orjson.dumps(found, option=orjson.OPT_SERIALIZE_NUMPY)
            except PymkError as exc:
                status, body = exc.http_status, orjson.dumps(exc.to_dict())
            except Exception:
                log.exception("console error on %s", path)
                status, body = 500, b'{"error":"InternalError","message":"internal server error"}'
            headers.append(_JSON)
        elif (page := self.static.get(path[len(PREFIX) :])) is not None and scope["method"] in (
            "GET",
            "HEAD",
        ):
            status, (body, kind) = 200, page
            headers.append((b"content-type", kind))
        else:
            status, body = 404, orjson.dumps(NotFound(f"no console page {path}").to_dict())
            headers.append(_JSON)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


class _MethodNotAllowed(PymkError):
    http_status = 405


def with_console(api: ASGIApp, console: Console) -> ASGIApp:
    """``api`` with ``/console*`` answered by ``console``: one prefix check per request, lifespan and
    everything else passed to ``api`` untouched."""

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            await console(scope, receive, send)
        else:
            await api(scope, receive, send)

    return app
