"""Serving test helpers: a test-double recommender, filling a store, and an in-process ASGI client."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import orjson

from pymk.serving.batch import precompute
from pymk.serving.lists import ListStore
from pymk.serving.recommender import TopK

USER_IDS = [f"u{i}" for i in range(50)] + ["with space", "slash/ü"]
COMPUTED_AT = 1_790_000_000.25


class FakeRecommender:
    """Deterministic lists: user i gets (i+1, i+2, ...) mod n, skipping itself; user 7 has no candidates.

    Scores fall by 0.5 per rank from 10; ``mutual_connections`` = rank-based count, ``ppr`` only on
    even ranks (so absent reasons are exercised).
    """

    model_version = "v0001-test"
    reason_names = ("mutual_connections", "ppr")

    def __init__(self, n: int) -> None:
        self.n = n

    def recommend(self, users: np.ndarray, k: int) -> TopK:
        b = len(users)
        ranks = np.arange(k)
        items = ((np.asarray(users)[:, None] + 1 + ranks[None, :]) % self.n).astype(np.int32)
        items[np.asarray(users) == 7] = -1
        scores = np.broadcast_to(10 - 0.5 * ranks, (b, k)).astype(np.float32)
        reasons = np.full((b, k, 2), np.nan, dtype=np.float32)
        reasons[:, :, 0] = (k - ranks)[None, :]
        reasons[:, ::2, 1] = 0.125
        reasons[items < 0] = np.nan
        return TopK(items, scores, reasons, self.reason_names)


def expected_items(user: int, k: int, n: int = len(USER_IDS)) -> list[str]:
    """External ids FakeRecommender lists for internal ``user`` (stored width 30) cut to ``k``."""
    return [] if user == 7 else [USER_IDS[(user + 1 + r) % n] for r in range(min(k, 30))]


def fill(store: ListStore, k: int = 30) -> None:
    """Precompute every fake user into ``store`` (two batches)."""
    precompute(FakeRecommender(len(USER_IDS)), store, USER_IDS, k=k, batch_size=32, clock=lambda: COMPUTED_AT)


class AsgiClient:
    """Calls an ASGI app in-process: no sockets, no server."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last_headers: dict[bytes, bytes] = {}
        """The response headers of the last request."""

    def request(
        self, method: str, path: str, body: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None
    ) -> tuple[int, Any]:
        raw, _, query = path.partition("?")
        from urllib.parse import unquote

        scope = {
            "type": "http",
            "method": method,
            "path": unquote(raw),
            "raw_path": raw.encode(),
            "query_string": query.encode(),
            "headers": headers or [],
        }
        sent: list[dict[str, Any]] = []
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            return messages.pop(0)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        asyncio.run(self.app(scope, receive, send))
        self.last_headers = got = dict(sent[0]["headers"])
        assert got[b"content-type"] == b"application/json" and got[b"x-request-id"]
        return sent[0]["status"], orjson.loads(sent[1]["body"])
