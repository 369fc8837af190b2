"""The operator console's API at the ASGI level: routes, status codes, JSON shapes, hostile ids.

The page itself is driven in a real browser by ``tests/test_console_browser.py``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import scipy.sparse as sp
from serving_helpers import COMPUTED_AT, USER_IDS, FakeRecommender, expected_items, fill

from pymk.registry import FilesystemRegistry, NewVersion
from pymk.serving.console import Console, with_console
from pymk.serving.console_data import DRIFT_REPORT, MAX_FOF, ego
from pymk.serving.exclusions import MemoryExclusions
from pymk.serving.fresh_fof import SnapshotGraph
from pymk.serving.lifecycle import LoadedModel, ModelSlot
from pymk.serving.lists_mmap import MmapListStore
from pymk.serving.model import GraphExclusions
from pymk.serving.service import RecommendationService

pytestmark = pytest.mark.unit

HOSTILE = "<img src=x onerror=alert(1)>/é"


def call(app: Any, path: str, method: str = "GET") -> tuple[int, dict[bytes, bytes], bytes]:
    """One request through ``app`` in-process: status, headers, body."""
    from urllib.parse import unquote

    raw, _, query = path.partition("?")
    scope = {
        "type": "http",
        "method": method,
        "path": unquote(raw),
        "raw_path": raw.encode(),
        "query_string": query.encode(),
        "headers": [],
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], dict(sent[0]["headers"]), sent[1]["body"]


def _registry(root: Path) -> tuple[FilesystemRegistry, list[str]]:
    registry = FilesystemRegistry(root / "models")
    versions = []
    for recall in (0.2, 0.3):
        info = NewVersion(
            model_name="pymk-ranker",
            model_kind="fake",
            data_fingerprint="f" * 64,
            metrics={"recall@20": recall, "ndcg@20": recall / 2},
        )
        versions.append(registry.register(lambda d: (d / "model.bin").write_bytes(b"x"), info).version)
    registry.promote(versions[0])
    return registry, versions


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Any, list[str], Path]:
    store = MmapListStore(tmp_path / "lists")
    fill(store)
    registry, versions = _registry(tmp_path)

    def load(version: str) -> LoadedModel:
        return LoadedModel(version, FakeRecommender(len(USER_IDS)), USER_IDS, 1_790_000_100.0)

    slot = ModelSlot(lambda: versions[0], load, ab_version=versions[1], ab_share=0.25)
    slot.poll()
    # Precomputed mode: the lists answer as stored (the fake model is not what computed them).
    service = RecommendationService(store, models=slot, mode="precomputed")
    api_calls: list[str] = []

    async def api(scope: Any, receive: Any, send: Any) -> None:
        api_calls.append(scope["path"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = with_console(api, Console(service, registry=registry, home=tmp_path))
    app.api_calls = api_calls  # type: ignore[attr-defined]
    return app, versions, tmp_path


def test_page_and_assets_are_served_with_a_strict_policy(setup: tuple[Any, list[str], Path]) -> None:
    app, _, _ = setup
    for path, kind in [
        ("/console", b"text/html"),
        ("/console/", b"text/html"),
        ("/console/console.js", b"text/javascript"),
        ("/console/console.css", b"text/css"),
    ]:
        status, headers, body = call(app, path)
        assert status == 200 and headers[b"content-type"].startswith(kind), path
        assert b"script-src 'self'" in headers[b"content-security-policy"]
        assert headers[b"x-content-type-options"] == b"nosniff"
        assert body
    page = call(app, "/console")[2]
    assert b'src="/console/console.js"' in page and b"http" not in page.replace(b'"http://www.w3.org', b"")
    # The script never parses markup from strings: every value becomes a text node.
    script = call(app, "/console/console.js")[2]
    assert b"innerHTML" not in script and b"insertAdjacentHTML" not in script and b"eval(" not in script
    assert call(app, "/console/nope.js")[0] == 404


def test_api_requests_bypass_the_console(setup: tuple[Any, list[str], Path]) -> None:
    app, _, _ = setup
    assert call(app, "/v1/users/u1/recommendations")[0] == 204
    assert call(app, "/healthz")[0] == 204
    assert app.api_calls == ["/v1/users/u1/recommendations", "/healthz"]


def test_user_view_is_the_api_list(setup: tuple[Any, list[str], Path]) -> None:
    app, _, _ = setup
    status, headers, body = call(app, "/console/api/users/u3?k=5")
    assert status == 200 and headers[b"content-type"] == b"application/json"
    view = orjson.loads(body)
    recs = view["recommendations"]
    assert view["user_id"] == "u3" and recs["user_id"] == "u3"
    assert [i["user_id"] for i in recs["items"]] == expected_items(3, 5)
    assert recs["model_version"] == FakeRecommender.model_version and recs["source"] == "precomputed"
    assert recs["generated_at"].startswith("2026-09-21T")  # COMPUTED_AT, RFC 3339 UTC
    assert recs["age_s"] == pytest.approx(time.time() - COMPUTED_AT, abs=60)
    assert set(recs["items"][0]) == {"user_id", "score", "reasons"}
    assert view["routed_to"] is not None and view["neighbourhood"] is None  # the fake holds no graph
    assert len(orjson.loads(call(app, "/console/api/users/u3")[2])["recommendations"]["items"]) == 10
    # Ids with a slash and a space travel percent-encoded, as in the API.
    assert orjson.loads(call(app, "/console/api/users/slash%2F%C3%BC?k=2")[2])["user_id"] == "slash/ü"


@pytest.mark.parametrize(
    ("path", "status", "error"),
    [
        ("/console/api/users/nobody", 404, "NotFound"),
        ("/console/api/users/u1?k=0", 422, "InvalidInput"),
        ("/console/api/users/u1?k=201", 422, "InvalidInput"),
        ("/console/api/users/u1?k=ten", 422, "InvalidInput"),
        ("/console/api/users/", 422, "InvalidInput"),
        ("/console/api/nothing", 404, "NotFound"),
    ],
)
def test_errors_are_json_with_their_status(
    setup: tuple[Any, list[str], Path], path: str, status: int, error: str
) -> None:
    app, _, _ = setup
    got, headers, body = call(app, path)
    assert got == status and headers[b"content-type"] == b"application/json"
    answer = orjson.loads(body)
    assert answer["error"] == error and answer["message"]


def test_writes_are_refused(setup: tuple[Any, list[str], Path]) -> None:
    app, _, _ = setup
    status, _, body = call(app, "/console/api/models", method="POST")
    assert status == 405 and "read-only" in orjson.loads(body)["message"]


def test_a_hostile_id_comes_back_as_data(setup: tuple[Any, list[str], Path]) -> None:
    app, _, _ = setup
    from urllib.parse import quote

    status, headers, body = call(app, "/console/api/users/" + quote(HOSTILE, safe=""))
    assert status == 404 and headers[b"content-type"] == b"application/json"
    assert headers[b"x-content-type-options"] == b"nosniff"
    assert HOSTILE in orjson.loads(body)["message"]  # the exact id, as a JSON string


def test_models_name_active_loaded_and_split(setup: tuple[Any, list[str], Path]) -> None:
    app, versions, _ = setup
    status, _, body = call(app, "/console/api/models")
    models = orjson.loads(body)
    assert status == 200
    assert models["active"] == versions[0]
    assert models["loaded"] == versions  # control first, then the challenger
    assert models["ab"] == {"control": versions[0], "challenger": versions[1], "share": 0.25, "loaded": True}
    listed = models["versions"]
    assert [v["version"] for v in listed] == versions[::-1]  # newest first
    assert [v["active"] for v in listed] == [False, True]
    assert listed[0]["metrics"] == {"recall@20": 0.3, "ndcg@20": 0.15}
    assert [h["action"] for h in models["history"]] == ["promote"]


def test_health_without_and_with_a_drift_report(setup: tuple[Any, list[str], Path]) -> None:
    app, versions, home = setup
    health = orjson.loads(call(app, "/console/api/health")[2])
    assert health["drift"] is None and health["mode"] == "precomputed"
    fresh = health["freshness"]
    assert fresh["lists"]["model_version"] == FakeRecommender.model_version
    assert fresh["lists"]["users"] == len(USER_IDS)
    assert fresh["follower"] is None and fresh["late_realtime"] == 0
    assert [(m["version"], m["role"]) for m in fresh["models"]] == [
        (versions[0], "control"),
        (versions[1], "challenger"),
    ]
    report = {
        "generated_at": "2026-11-27T10:00:00Z",
        "model_version": versions[0],
        "window": {"start": "2026-11-26T10:00:00Z", "end": "2026-11-27T10:00:00Z", "events": 1200},
        "drifted": True,
        "share_drifted": 0.5,
        "features": [
            {
                "name": "degree",
                "kind": "numeric",
                "stat": "psi",
                "value": 0.4,
                "threshold": 0.2,
                "drifted": True,
            }
        ],
    }
    (home / DRIFT_REPORT).parent.mkdir(parents=True)
    (home / DRIFT_REPORT).write_bytes(orjson.dumps(report))
    drift = orjson.loads(call(app, "/console/api/health")[2])["drift"]
    assert drift["drifted"] is True and drift["features"] == report["features"]
    assert drift["age_s"] > 0
    (home / DRIFT_REPORT).write_text("{not json")
    status, _, body = call(app, "/console/api/health")
    assert status == 200 and "cannot read" in orjson.loads(body)["drift"]["error"]


def test_ego_graph_friends_fresh_connects_and_friends_of_friends() -> None:
    ids = [f"u{i}" for i in range(8)]
    # u0's friends u1 (degree 3), u2 (degree 2); u3 shares both of them, u4 one; u5 is deleted at load.
    edges = [(0, 1), (0, 2), (1, 3), (2, 3), (1, 4), (2, 5), (6, 7)]
    rows = [a for a, b in edges] + [b for a, b in edges]
    cols = [b for a, b in edges] + [a for a, b in edges]
    adj = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(8, 8))
    gone = np.zeros(8, dtype=bool)
    gone[5] = True
    graph = SnapshotGraph(
        adj, GraphExclusions(adj.astype(bool), gone), ids, {u: i for i, u in enumerate(ids)}
    )
    ex = MemoryExclusions()
    hood = ego("u0", graph, ex)
    assert hood["friends"] == [
        {"user_id": "u1", "degree": 3, "fresh": False},
        {"user_id": "u2", "degree": 3, "fresh": False},
    ]
    assert hood["friends_of_friends"] == [
        {"user_id": "u3", "mutual": 2, "via": ["u1", "u2"]},
        {"user_id": "u4", "mutual": 1, "via": ["u1"]},
    ]
    ex.connect("u0", "u6", time.time())  # a fresh friend brings its own friend u7
    ex.delete_user("u4", time.time())
    hood = ego("u0", graph, ex)
    assert hood["friends_total"] == 3 and {"user_id": "u6", "degree": 1, "fresh": True} in hood["friends"]
    assert [f["user_id"] for f in hood["friends_of_friends"]] == ["u3", "u7"]
    assert len(hood["friends_of_friends"]) <= MAX_FOF
    # A user the snapshot does not hold has only its fresh connects.
    ex.connect("newbie", "u1", time.time())
    assert ego("newbie", graph, ex)["friends"] == [{"user_id": "u1", "degree": 3, "fresh": True}]


def test_pymk_serve_app_mounts_the_console(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pymk.serving.http import app_from_env

    monkeypatch.setenv("PYMK_HOME", str(tmp_path))
    monkeypatch.delenv("PYMK_CONFIG", raising=False)
    app = app_from_env()  # what `pymk serve`'s granian workers build
    assert call(app, "/console")[0] == 200
    health = orjson.loads(call(app, "/console/api/health")[2])
    assert health["freshness"]["lists"] is None and health["drift"] is None
    assert orjson.loads(call(app, "/console/api/models")[2])["versions"] == []
    status, _, body = call(app, "/healthz")  # the API behind it, untouched
    assert status == 200 and orjson.loads(body) == {"status": "ok"}


class _DeltaLog:
    """The two online-store calls the follower and the console make, over a list of deltas."""

    def __init__(self, deltas: list[Any]) -> None:
        self.deltas = deltas
        self.head = len(deltas)

    def deltas_since(self, seq: int, limit: int = 10_000) -> list[Any]:
        return [d for d in self.deltas if d.seq > seq][:limit]

    def last_seq(self) -> int:
        return self.head

    def close(self) -> None:
        pass


def test_health_reports_how_far_the_follower_is_behind(tmp_path: Path) -> None:
    from pymk.online.base import GraphDelta
    from pymk.serving.follow import DeltaFollower

    store = MmapListStore(tmp_path / "lists")
    fill(store)
    deltas = [GraphDelta(i, "connect", f"u{i}", f"u{i + 1}", 1_790_000_000.0 + i, f"e{i}") for i in (1, 2, 3)]
    online = _DeltaLog(deltas)
    follower = DeltaFollower(online, MemoryExclusions(), clock=lambda: 1_790_000_500.0)  # type: ignore[arg-type]
    follower.poll()
    online.head = 7  # the worker applied four more that this server has not read yet
    app = with_console(lambda *a: None, Console(RecommendationService(store), follower=follower))
    got = orjson.loads(call(app, "/console/api/health")[2])["freshness"]["follower"]
    assert got["seq"] == 3 and got["head"] == 7 and got["behind"] == 4 and got["applied"] == 3
    assert _unix(got["last_event_at"]) == 1_790_000_003.0  # the last applied delta's event time
    assert _unix(got["last_applied_at"]) == 1_790_000_500.0 and got["since_applied_s"] > 0


def _unix(rfc3339: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()
