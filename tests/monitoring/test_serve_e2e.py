"""``pymk serve --workers 2``: /metrics adds up both worker processes; request lines are JSON on stderr."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from serving_helpers import fill

from pymk.serving.lists_mmap import MmapListStore

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _served(text: str) -> float:
    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "pymk_http_requests_total"
        and s.labels == {"endpoint": "recommendations", "status": "200"}
    )


def test_two_workers_one_metrics_endpoint(tmp_path: Path) -> None:
    fill(MmapListStore(tmp_path / "lists"))
    port = _free_port()
    env = {
        **os.environ,
        "PYMK_HOME": str(tmp_path),
        "PYMK_METRICS_FLUSH_S": "0.2",
        "PYMK_LOG_SAMPLE_RATE": "1.0",
        "TMPDIR": str(tmp_path),  # where the server makes its private metrics directory
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    command = [sys.executable, "-c", "from pymk.cli import main; main()", "serve", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--no-grpc", "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: granian's workers can be killed with it
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if _get(f"{base}/readyz")[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.1)
        for i in range(40):
            assert _get(f"{base}/v1/users/u{i}/recommendations?k=3")[0] == 200
        status, headers, _ = _get(f"{base}/v1/users/u1/recommendations", {"X-Request-Id": "e2e-1"})
        assert status == 200 and headers["x-request-id"] == "e2e-1"
        deadline = time.monotonic() + 10
        while _served(_get(f"{base}/metrics")[2].decode()) < 41 and time.monotonic() < deadline:
            time.sleep(0.1)
        status, headers, body = _get(f"{base}/metrics")
        assert status == 200 and headers["content-type"].startswith("text/plain")
        assert _served(body.decode()) == 41
        # Each process that served writes its own file, in the server's private directory under TMPDIR
        # (how many processes the kernel spread 41 connections over is not ours to pin: the sum across
        # processes is test_serve_metrics.py's test_counts_of_two_processes_add_up).
        assert list(tmp_path.glob(f"pymk-metrics-{port}-*/counter_*.db"))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            stderr = proc.communicate(timeout=15)[1].decode()
        except subprocess.TimeoutExpired:
            # Known: now and then granian's two-worker shutdown outlives SIGTERM here (about one run in
            # three on a busy 2-core machine); this test is about metrics and logs, which are written.
            os.killpg(proc.pid, signal.SIGKILL)  # the workers too: they hold the stderr pipe open
            stderr = proc.communicate(timeout=15)[1].decode()
    lines = [orjson.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    tagged = [line for line in lines if line.get("request_id") == "e2e-1"]
    assert tagged and tagged[0]["endpoint"] == "recommendations" and tagged[0]["status"] == 200, stderr[
        -2000:
    ]
