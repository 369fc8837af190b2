"""The gRPC service ``pymk.v1.Recommender`` over the same :class:`RecommendationService` as HTTP.

Handlers are registered as typed generic handlers (the generated ``*_pb2_grpc`` module is for clients);
a :class:`~pymk.errors.PymkError` becomes the status its ``grpc_code`` names. Every call gets a request id
as HTTP does (:class:`~pymk.monitoring.logs.RequestIds`: the caller's ``x-request-id`` metadata when
usable): sent back as ``x-request-id`` initial metadata and in each list's ``request_id``.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import grpc

from pymk.errors import NotFound, PymkError
from pymk.monitoring.logs import RequestIds
from pymk.serving.lists import StoredList
from pymk.serving.proto import recommender_pb2 as pb
from pymk.serving.service import DEFAULT_K, RecommendationService, rfc3339

SERVICE = "pymk.v1.Recommender"
Req = TypeVar("Req")
Resp = TypeVar("Resp")


def to_message(user_id: str, found: StoredList, request_id: str = "") -> pb.Recommendations:
    """The gRPC twin of :func:`pymk.serving.service.render`: same items, scores, reasons and request id."""
    items = [
        pb.Item(user_id=i["user_id"], score=i["score"], reasons=i["reasons"]) for i in found.item_dicts()
    ]
    return pb.Recommendations(
        user_id=user_id,
        model_version=found.model_version,
        generated_at=rfc3339(found.computed_at),
        source=found.source,
        items=items,
        request_id=request_id,
    )


_REQUEST_ID = "x-request-id"


def _guarded(
    fn: Callable[[Req, str], Resp], request_ids: RequestIds
) -> Callable[[Req, grpc.ServicerContext], Resp]:
    """``fn(request, request_id)`` as a handler: the request id sent as initial metadata, a
    :class:`PymkError` as its status."""

    def handler(request: Req, context: grpc.ServicerContext) -> Resp:
        incoming = next((v for k, v in context.invocation_metadata() if k == _REQUEST_ID), None)
        raw = incoming.encode() if isinstance(incoming, str) else incoming
        request_id = request_ids(raw).decode()
        context.send_initial_metadata(((_REQUEST_ID, request_id),))
        try:
            return fn(request, request_id)
        except PymkError as exc:
            context.abort(grpc.StatusCode[exc.grpc_code], exc.message)

    return handler


def handlers(service: RecommendationService) -> grpc.GenericRpcHandler:
    """``Recommend`` and ``RecommendBatch`` of ``service`` as one generic handler."""

    request_ids = RequestIds()

    def recommend(request: pb.RecommendRequest, request_id: str) -> pb.Recommendations:
        k = request.k if request.HasField("k") else DEFAULT_K
        return to_message(request.user_id, service.one(request.user_id, k), request_id)

    def recommend_batch(request: pb.RecommendBatchRequest, request_id: str) -> pb.RecommendBatchResponse:
        k = request.k if request.HasField("k") else DEFAULT_K
        users = list(request.user_ids)
        results = [
            to_message(u, r, request_id)
            if isinstance(r, StoredList)
            else pb.Recommendations(user_id=u, error=pb.Error(**_error(r)))
            for u, r in zip(users, service.batch(users, k), strict=True)
        ]
        return pb.RecommendBatchResponse(results=results)

    methods: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        "Recommend": grpc.unary_unary_rpc_method_handler(
            _guarded(recommend, request_ids),
            request_deserializer=pb.RecommendRequest.FromString,
            response_serializer=pb.Recommendations.SerializeToString,
        ),
        "RecommendBatch": grpc.unary_unary_rpc_method_handler(
            _guarded(recommend_batch, request_ids),
            request_deserializer=pb.RecommendBatchRequest.FromString,
            response_serializer=pb.RecommendBatchResponse.SerializeToString,
        ),
    }
    return grpc.method_handlers_generic_handler(SERVICE, methods)


def _error(exc: NotFound) -> dict[str, str]:
    body = exc.to_dict()
    return {"error": str(body["error"]), "message": str(body["message"])}


def create_server(
    service: RecommendationService, address: str, *, threads: int = 8
) -> tuple[grpc.Server, int]:
    """An unstarted server bound to ``address`` (``host:port``; port 0 picks a free one) and its port."""
    server = grpc.server(ThreadPoolExecutor(max_workers=threads))
    server.add_generic_rpc_handlers((handlers(service),))
    port = server.add_insecure_port(address)
    return server, port


def serve_from_env(address: str) -> None:
    """Run the gRPC server until terminated, settings from ``PYMK_*`` (a child process of ``pymk serve``)."""
    from pymk.config import load_settings
    from pymk.serving.bootstrap import build_service

    server, _ = create_server(build_service(load_settings()), address)
    server.start()
    server.wait_for_termination()
