"""Generated protobuf/gRPC code for ``pymk.v1.Recommender`` (checked in; see ``__main__``).

Checked in rather than generated at install time so that installing pymk needs no protoc and a plain
wheel works; ``tests/serving/test_serving_grpc.py`` regenerates it and fails when it is out of date.
"""
