"""gRPC ``pymk.v1.Recommender``: the same lists as HTTP, status codes, and the checked-in code is current."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import orjson
import pytest
from google.protobuf.json_format import MessageToDict
from serving_helpers import AsgiClient, fill

from pymk.serving.grpc_server import create_server
from pymk.serving.http import create_app
from pymk.serving.lists_mmap import MmapListStore
from pymk.serving.proto import recommender_pb2 as pb
from pymk.serving.proto import recommender_pb2_grpc as pb_grpc
from pymk.serving.service import RecommendationService

pytestmark = pytest.mark.unit
PROTO_DIR = Path(__file__).resolve().parents[2] / "src" / "pymk" / "serving" / "proto"


@pytest.fixture
def both(tmp_path: Path) -> Iterator[tuple[pb_grpc.RecommenderStub, AsgiClient]]:
    """A gRPC server on a free port and an HTTP client, both over one service on embedded lists."""
    store = MmapListStore(tmp_path / "lists")
    fill(store)
    service = RecommendationService(store, max_batch=10)
    server, port = create_server(service, "127.0.0.1:0", threads=2)
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield pb_grpc.RecommenderStub(channel), AsgiClient(create_app(service))
    server.stop(None)


def _as_http(message: pb.Recommendations) -> dict[str, object]:
    """A gRPC result in the HTTP JSON shape, scores compared as the float32 both carry."""
    body = MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    for item in body["items"]:
        item["score"] = float(np.float32(item["score"]))
    return body


def _http_scores_as_float32(body: dict[str, object]) -> dict[str, object]:
    for item in body["items"]:
        item["score"] = float(np.float32(item["score"]))
    return body


def test_same_lists_as_http(both: tuple[pb_grpc.RecommenderStub, AsgiClient]) -> None:
    stub, http = both
    for user, k in (("u3", 5), ("slash/ü", 30), ("u7", 20), ("u0", 200)):
        rid = f"req-{k}"  # the caller's id is kept by both transports
        _, body = http.request(
            "GET",
            f"/v1/users/{user.replace('/', '%2F')}/recommendations?k={k}",
            headers=[(b"x-request-id", rid.encode())],
        )
        reply, call = stub.Recommend.with_call(
            pb.RecommendRequest(user_id=user, k=k), metadata=(("x-request-id", rid),)
        )
        got = _as_http(reply)
        got.pop("error", None)
        assert got == _http_scores_as_float32(body) and body["request_id"] == rid
        assert ("x-request-id", rid) in call.initial_metadata()
    _, body = http.request("GET", "/v1/users/u1/recommendations")
    assert len(stub.Recommend(pb.RecommendRequest(user_id="u1")).items) == len(body["items"]) == 20


def test_batch_matches_http(both: tuple[pb_grpc.RecommenderStub, AsgiClient]) -> None:
    stub, http = both
    users = ["u2", "nobody", "u9"]
    _, body = http.request("POST", "/v1/recommendations:batch", orjson.dumps({"user_ids": users, "k": 4}))
    reply = stub.RecommendBatch(pb.RecommendBatchRequest(user_ids=users, k=4))
    assert [r.user_id for r in reply.results] == users
    assert reply.results[1].error.error == "NotFound" and not reply.results[1].items
    # Without a caller's id each transport makes one per request, shared by the lists of the batch.
    http_id, grpc_id = body["results"][0]["request_id"], reply.results[0].request_id
    assert http_id and grpc_id and http_id != grpc_id
    assert http_id == body["results"][2]["request_id"] and grpc_id == reply.results[2].request_id
    for i in (0, 2):
        got = _as_http(reply.results[i])
        got.pop("error", None)
        got["request_id"] = http_id
        assert got == _http_scores_as_float32(body["results"][i])


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda s: s.Recommend(pb.RecommendRequest(user_id="nobody")), grpc.StatusCode.NOT_FOUND),
        (lambda s: s.Recommend(pb.RecommendRequest(user_id="u1", k=0)), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda s: s.Recommend(pb.RecommendRequest(user_id="u1", k=201)), grpc.StatusCode.INVALID_ARGUMENT),
        (
            lambda s: s.RecommendBatch(pb.RecommendBatchRequest(user_ids=["u1"] * 11)),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        ),
    ],
)
def test_errors_carry_their_status(both: tuple[pb_grpc.RecommenderStub, AsgiClient], call, code) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        call(both[0])
    assert raised.value.code() == code


@pytest.mark.unit
def test_checked_in_code_is_generated_from_the_proto(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools")
    subprocess.run([sys.executable, "-m", "pymk.serving.proto", str(tmp_path)], check=True)
    fresh = tmp_path / "pymk" / "serving" / "proto"
    for name in ("recommender_pb2.py", "recommender_pb2.pyi", "recommender_pb2_grpc.py"):
        assert filecmp.cmp(fresh / name, PROTO_DIR / name, shallow=False), (
            f"{name} is stale: python -m pymk.serving.proto"
        )
