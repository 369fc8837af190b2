"""``pymk serve`` end to end: a real granian server and gRPC process on free ports over embedded lists."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest
from serving_helpers import expected_items, fill

from pymk.serving.lists_mmap import MmapListStore
from pymk.serving.proto import recommender_pb2 as pb
from pymk.serving.proto import recommender_pb2_grpc as pb_grpc

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_serve_http_and_grpc(tmp_path: Path) -> None:
    fill(MmapListStore(tmp_path / "lists"))
    http, grpc_port = _free_port(), _free_port()
    env = {**os.environ, "PYMK_HOME": str(tmp_path)}
    command = [
        sys.executable,
        "-c",
        "from pymk.cli import main; main()",
        "serve",
        "--port",
        str(http),
        "--grpc-port",
        str(grpc_port),
    ]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{http}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if _get(f"{base}/readyz")[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.1)
        status, body = _get(f"{base}/v1/users/u3/recommendations?k=3")
        assert status == 200 and [i["user_id"] for i in body["items"]] == expected_items(3, 3)
        assert _get(f"{base}/v1/users/nobody/recommendations")[0] == 404
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=20)
            reply = pb_grpc.RecommenderStub(channel).Recommend(pb.RecommendRequest(user_id="u3", k=3))
        assert [i.user_id for i in reply.items] == expected_items(3, 3)
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=20)[0].decode()
    assert "serving model v0001-test" in output, output


def test_serve_refuses_a_taken_port(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pymk.cli import app

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            app, ["serve", "--home", str(tmp_path), "--port", str(_free_port()), "--grpc-port", str(port)]
        )
    assert result.exit_code == 2
    assert f"cannot listen for gRPC on 127.0.0.1:{port}" in result.output
