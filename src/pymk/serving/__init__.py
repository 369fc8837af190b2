"""Serving: the scoring interface, precomputed-list stores, and the HTTP and gRPC entrypoints.

``recommender`` holds the scoring contract a model implements; ``lists`` the precomputed-list store
contract with its embedded (``lists_mmap``) and Redis (``lists_redis``) implementations; ``batch`` fills a
store from a recommender; ``service`` is the one request path both transports (``http``, ``grpc_server``)
call. Nothing here imports training code.
"""
