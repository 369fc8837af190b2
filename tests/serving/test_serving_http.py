"""The HTTP API (DESIGN §5) in-process: lists, batch, errors as JSON, health, readiness, OpenAPI."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from serving_helpers import COMPUTED_AT, USER_IDS, AsgiClient, FakeRecommender, expected_items, fill

from pymk.serving.batch import precompute
from pymk.serving.http import create_app
from pymk.serving.lists import ListStore
from pymk.serving.lists_mmap import MmapListStore
from pymk.serving.service import RecommendationService, rfc3339

pytestmark = pytest.mark.unit


@pytest.fixture
def client(filled: ListStore) -> AsgiClient:
    return AsgiClient(create_app(RecommendationService(filled, max_batch=10)))


def test_one_user(client: AsgiClient) -> None:
    status, body = client.request("GET", "/v1/users/u3/recommendations?k=4")
    assert status == 200
    assert body["user_id"] == "u3" and body["model_version"] == "v0001-test"
    assert body["source"] == "precomputed" and body["generated_at"] == rfc3339(COMPUTED_AT)
    assert body["generated_at"].endswith(".250Z")
    assert [i["user_id"] for i in body["items"]] == expected_items(3, 4)
    assert body["items"][0] == {
        "user_id": "u4",
        "score": 10.0,
        "reasons": {"mutual_connections": 30, "ppr": 0.125},
    }


def test_default_k_and_escaped_ids(client: AsgiClient) -> None:
    status, body = client.request("GET", "/v1/users/u0/recommendations")
    assert status == 200 and len(body["items"]) == 20
    status, body = client.request("GET", "/v1/users/slash%2F%C3%BC/recommendations?k=2")
    assert status == 200 and body["user_id"] == "slash/ü"
    assert [i["user_id"] for i in body["items"]] == expected_items(51, 2)
    status, body = client.request("GET", "/v1/users/with%20space/recommendations?k=1")
    assert status == 200 and body["user_id"] == "with space"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("GET", "/v1/users/nobody/recommendations", b"", 404, "NotFound"),
        ("GET", "/v1/users/u1/recommendations?k=0", b"", 422, "InvalidInput"),
        ("GET", "/v1/users/u1/recommendations?k=201", b"", 422, "InvalidInput"),
        ("GET", "/v1/users/u1/recommendations?k=ten", b"", 422, "InvalidInput"),
        ("POST", "/v1/users/u1/recommendations", b"", 405, "MethodNotAllowed"),
        ("GET", "/v1/nothing", b"", 404, "NotFound"),
        ("POST", "/v1/recommendations:batch", b"{not json", 400, "MalformedRequest"),
        ("POST", "/v1/recommendations:batch", b'{"user_ids": "u1"}', 422, "InvalidInput"),
        ("POST", "/v1/recommendations:batch", b'{"user_ids": [1]}', 422, "InvalidInput"),
        ("POST", "/v1/recommendations:batch", b'{"user_ids": ["u1"], "x": 1}', 422, "InvalidInput"),
        ("POST", "/v1/recommendations:batch", b'{"user_ids": ["u1"], "k": true}', 422, "InvalidInput"),
        ("POST", "/v1/recommendations:batch", b'{"user_ids": ["u1"], "k": 500}', 422, "InvalidInput"),
        (
            "POST",
            "/v1/recommendations:batch",
            orjson.dumps({"user_ids": USER_IDS[:11]}),
            413,
            "PayloadTooLarge",
        ),
        ("POST", "/v1/recommendations:batch", b" " * (1 << 20) + b"{}", 413, "PayloadTooLarge"),
        ("GET", "/v1/recommendations:batch", b"", 405, "MethodNotAllowed"),
    ],
)
def test_errors_are_json(
    client: AsgiClient, method: str, path: str, body: bytes, status: int, error: str
) -> None:
    got, payload = client.request(method, path, body)
    assert (got, payload["error"]) == (status, error)
    assert isinstance(payload["message"], str) and payload["message"]


def test_batch_keeps_order_and_reports_unknown_users(client: AsgiClient) -> None:
    request = orjson.dumps({"user_ids": ["u2", "nobody", "u7", "u2"], "k": 3})
    status, body = client.request("POST", "/v1/recommendations:batch", request)
    assert status == 200
    results = body["results"]
    assert [r["user_id"] for r in results] == ["u2", "nobody", "u7", "u2"]
    assert [i["user_id"] for i in results[0]["items"]] == expected_items(2, 3)
    assert results[1]["error"]["error"] == "NotFound" and "items" not in results[1]
    assert results[2]["items"] == [] and results[3] == results[0]
    _, single = client.request("GET", "/v1/users/u2/recommendations?k=3")
    assert single.pop("request_id") != results[0].pop("request_id")  # one per request
    assert single == results[0]


def test_health_readiness_and_openapi(tmp_path: Path) -> None:
    store = MmapListStore(tmp_path / "lists")
    client = AsgiClient(create_app(RecommendationService(store)))
    assert client.request("GET", "/healthz") == (200, {"status": "ok"})
    status, body = client.request("GET", "/readyz")
    assert status == 503 and body["status"] == "not ready"
    fill(store)
    status, body = client.request("GET", "/readyz")
    assert status == 200 and body["model_version"] == "v0001-test" and body["users"] == len(USER_IDS)
    status, doc = client.request("GET", "/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    assert set(doc["paths"]) >= {
        "/v1/users/{user_id}/recommendations",
        "/v1/recommendations:batch",
        "/v1/events",
        "/readyz",
    }


def test_a_server_follows_lists_committed_later(tmp_path: Path) -> None:
    writer_side = MmapListStore(tmp_path / "lists")
    fill(writer_side)
    client = AsgiClient(create_app(RecommendationService(MmapListStore(tmp_path / "lists"), refresh_s=0.0)))
    assert client.request("GET", "/v1/users/u1/recommendations")[1]["model_version"] == "v0001-test"

    class Next(FakeRecommender):
        model_version = "v0002-test"

    precompute(Next(len(USER_IDS)), writer_side, USER_IDS, k=5)
    status, body = client.request("GET", "/v1/users/u1/recommendations")
    assert (status, body["model_version"], len(body["items"])) == (200, "v0002-test", 5)


def test_responses_have_the_shape_openapi_documents(client: AsgiClient) -> None:
    schemas = client.request("GET", "/openapi.json")[1]["components"]["schemas"]
    _, one = client.request("GET", "/v1/users/u3/recommendations?k=2")
    assert (
        set(one)
        == set(schemas["Recommendations"]["properties"])
        == set(schemas["Recommendations"]["required"])
    )
    assert set(one["items"][0]) == set(schemas["Item"]["required"])
    assert one["source"] in schemas["Recommendations"]["properties"]["source"]["enum"]
    _, batch = client.request("POST", "/v1/recommendations:batch", b'{"user_ids": ["nobody"]}')
    error_entry = schemas["BatchResult"]["oneOf"][1]
    assert set(batch["results"][0]) == set(error_entry["required"])
    assert set(batch["results"][0]["error"]) == set(schemas["Error"]["required"])


def test_lists_carry_the_request_id_of_the_response(client: AsgiClient) -> None:
    _, one = client.request("GET", "/v1/users/u3/recommendations?k=2")
    assert one["request_id"] and one["request_id"].encode() == client.last_headers[b"x-request-id"]
    _, again = client.request("GET", "/v1/users/u3/recommendations?k=2")
    assert again["request_id"] != one["request_id"]
    mine = [(b"x-request-id", b'cli"ent\\1')]  # a caller's id is kept, and JSON-escaped in the body
    _, echoed = client.request("GET", "/v1/users/u3/recommendations?k=2", headers=mine)
    assert echoed["request_id"] == 'cli"ent\\1'
    body = orjson.dumps({"user_ids": ["u1", "nobody", "u2"], "k": 2})
    _, batch = client.request("POST", "/v1/recommendations:batch", body)
    found = [r for r in batch["results"] if "items" in r]
    assert len(found) == 2 and "request_id" not in batch["results"][1]
    assert {r["request_id"] for r in found} == {client.last_headers[b"x-request-id"].decode()}
