"""The gRPC service ``pymk.v1.Recommender`` over the same :class:`RecommendationService` as HTTP.

Handlers are registered as typed generic handlers (the generated ``*_pb2_grpc`` module is for clients);
a :class:`~pymk.errors.PymkError` becomes the status its ``grpc_code`` names. Every call gets a request id
as HTTP does (:class:`~pymk.monitoring.logs.RequestIds`: the caller's ``x-request-id`` metadata when
usable): sent back as ``x-request-id`` initial metadata and in each list's ``request_id``.

Calls are counted in the HTTP server's families (:class:`~pymk.monitoring.metrics.ServeMetrics`: latency
by endpoint and source, requests and errors, in-flight, list length, source mix) with the endpoints
``grpc_recommend`` and ``grpc_recommend_batch`` and, as ``status``, the HTTP status of the outcome (200;
a :class:`~pymk.errors.PymkError`'s ``http_status``; 500 for anything else), so the error-rate alert
reads both transports alike. Under ``pymk serve`` the gRPC process writes them to the server's
multiprocess directory, where ``GET /metrics`` adds them to the HTTP workers'.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import grpc

from pymk.errors import NotFound, PymkError
from pymk.monitoring.logs import RequestIds
from pymk.monitoring.recorder import ThreadedRecorder
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
_Lists = Sequence[tuple[str, int]]
"""``(source, length)`` of each list an answer holds: what the metrics count."""


def _guarded(
    fn: Callable[[Req, str], tuple[Resp, _Lists]],
    request_ids: RequestIds,
    endpoint: str,
    recorder: ThreadedRecorder | None,
) -> Callable[[Req, grpc.ServicerContext], Resp]:
    """``fn(request, request_id)`` -> ``(response, lists)`` as a handler: the request id sent as initial
    metadata, a :class:`PymkError` as its status; each call counted by ``recorder`` (None: not)."""

    def handler(request: Req, context: grpc.ServicerContext) -> Resp:
        started = time.perf_counter()
        if recorder is not None:
            recorder.started()
        status = 500  # unless fn answers or raises a PymkError
        lists: _Lists = ()
        try:
            incoming = next((v for k, v in context.invocation_metadata() if k == _REQUEST_ID), None)
            raw = incoming.encode() if isinstance(incoming, str) else incoming
            request_id = request_ids(raw).decode()
            context.send_initial_metadata(((_REQUEST_ID, request_id),))
            try:
                response, lists = fn(request, request_id)
                status = 200
                return response
            except PymkError as exc:
                status = exc.http_status
                context.abort(grpc.StatusCode[exc.grpc_code], exc.message)
        finally:
            if recorder is not None:
                now = time.perf_counter()
                recorder.record_many(endpoint, status, now - started, lists, now)

    return handler


def handlers(
    service: RecommendationService, recorder: ThreadedRecorder | None = None
) -> grpc.GenericRpcHandler:
    """``Recommend`` and ``RecommendBatch`` of ``service`` as one generic handler; calls counted by
    ``recorder`` when given (endpoints ``grpc_recommend``, ``grpc_recommend_batch``)."""

    request_ids = RequestIds()

    def recommend(request: pb.RecommendRequest, request_id: str) -> tuple[pb.Recommendations, _Lists]:
        k = request.k if request.HasField("k") else DEFAULT_K
        found = service.one(request.user_id, k)
        return to_message(request.user_id, found, request_id), ((found.source, len(found.items)),)

    def recommend_batch(
        request: pb.RecommendBatchRequest, request_id: str
    ) -> tuple[pb.RecommendBatchResponse, _Lists]:
        k = request.k if request.HasField("k") else DEFAULT_K
        users = list(request.user_ids)
        found = service.batch(users, k)
        results = [
            to_message(u, r, request_id)
            if isinstance(r, StoredList)
            else pb.Recommendations(user_id=u, error=pb.Error(**_error(r)))
            for u, r in zip(users, found, strict=True)
        ]
        lists = [(r.source, len(r.items)) for r in found if isinstance(r, StoredList)]
        return pb.RecommendBatchResponse(results=results), lists

    methods: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        "Recommend": grpc.unary_unary_rpc_method_handler(
            _guarded(recommend, request_ids, "grpc_recommend", recorder),
            request_deserializer=pb.RecommendRequest.FromString,
            response_serializer=pb.Recommendations.SerializeToString,
        ),
        "RecommendBatch": grpc.unary_unary_rpc_method_handler(
            _guarded(recommend_batch, request_ids, "grpc_recommend_batch", recorder),
            request_deserializer=pb.RecommendBatchRequest.FromString,
            response_serializer=pb.RecommendBatchResponse.SerializeToString,
        ),
    }
    return grpc.method_handlers_generic_handler(SERVICE, methods)


def _error(exc: NotFound) -> dict[str, str]:
    body = exc.to_dict()
    return {"error": str(body["error"]), "message": str(body["message"])}


def create_server(
    service: RecommendationService,
    address: str,
    *,
    threads: int = 8,
    recorder: ThreadedRecorder | None = None,
) -> tuple[grpc.Server, int]:
    """An unstarted server bound to ``address`` (``host:port``; port 0 picks a free one) and its port;
    calls counted by ``recorder`` when given (its flushing thread is the caller's to start and close)."""
    server = grpc.server(ThreadPoolExecutor(max_workers=threads))
    server.add_generic_rpc_handlers((handlers(service, recorder),))
    port = server.add_insecure_port(address)
    return server, port


def serve_from_env(address: str) -> None:
    """Run the gRPC server until terminated, settings from ``PYMK_*`` (a child process of ``pymk serve``,
    which exported its multiprocess metrics directory: the counts land beside the HTTP workers')."""
    from pymk.config import load_settings
    from pymk.monitoring.metrics import ServeMetrics
    from pymk.monitoring.recorder import RequestRecorder
    from pymk.serving.bootstrap import build_service

    settings = load_settings()
    service = build_service(settings)
    recorder = None
    if settings.metrics_enabled:
        counts = RequestRecorder(
            ServeMetrics(),
            flush_s=settings.metrics_flush_s,
            late=lambda: service.late,
            versions=service.model_versions,
        )
        recorder = ThreadedRecorder(counts).start()
    server, _ = create_server(service, address, recorder=recorder)
    server.start()
    try:
        server.wait_for_termination()
    finally:
        if recorder is not None:
            recorder.close()
