"""Regenerate the checked-in gRPC code from ``recommender.proto`` (needs the dev extra's grpcio-tools).

``python -m pymk.serving.proto [OUT_DIR]`` writes ``recommender_pb2.py``, ``recommender_pb2.pyi`` and
``recommender_pb2_grpc.py`` under ``OUT_DIR/pymk/serving/proto`` (default: the source tree).
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc  # type: ignore[import-untyped]

SRC = Path(__file__).resolve().parents[3]


def generate(out: Path) -> None:
    """Run protoc with the proto path rooted at ``src`` so the generated imports are package-absolute."""
    (out / "pymk" / "serving" / "proto").mkdir(parents=True, exist_ok=True)
    include = str(Path(protoc.__file__).parent / "_proto")
    args = [
        "protoc",
        f"-I{SRC}",
        f"-I{include}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        str(SRC / "pymk" / "serving" / "proto" / "recommender.proto"),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else SRC)
