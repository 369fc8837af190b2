"""Load-generation helpers for benchmarks/serve_load.py: wrk with a Lua request mix, a Python fallback,
a gRPC client loop, and an nginx static-file baseline. Everything targets 127.0.0.1 and is time-bounded."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

_LUA = r"""
local paths, bodies = {}, {}
for line in io.lines("%(paths)s") do paths[#paths + 1] = line end
%(read_bodies)s
local counter = 0
function setup(thread) counter = counter + 1; thread:set("id", counter) end
function init(args) math.randomseed(os.time() * 1000 + id) end
local headers = {["Content-Type"] = "application/json"}
function request()
  local i = math.random(#paths)
  return wrk.format(%(method)s, paths[i], headers, bodies[i])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\"requests\":%%d,\"duration_us\":%%d,\"errors\":%%d," ..
    "\"p50_us\":%%d,\"p99_us\":%%d,\"p999_us\":%%d}\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0, workers: int = 1) -> None:
    """Poll ``url`` until it answers 200 — from ``workers`` distinct worker processes when it is a
    ``/readyz`` naming its ``worker_pid``; fail if ``proc`` exits or ``timeout`` passes.

    Waiting for every worker matters under keep-alive load: a worker still loading its model accepts
    no connection, so a load generator that connects the moment the first worker is ready sends every
    request to that one (seen with 2 workers: one scored all 2,900 users, the other 1).
    """
    deadline = time.monotonic() + timeout
    seen: set[object] = set()
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    body = response.read()
                    pid = json.loads(body).get("worker_pid") if body.startswith(b"{") else None
                    seen.add(pid)
                    if pid is None or len(seen) >= workers:
                        return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{url} not ready after {timeout} s ({len(seen)} of {workers} workers answered)")


def _summary(requests: int, seconds: float, errors: int, latencies_ms: np.ndarray) -> dict[str, Any]:
    p = np.percentile(latencies_ms, [50, 99, 99.9]) if len(latencies_ms) else np.zeros(3)
    return {
        "requests": requests,
        "seconds": seconds,
        "requests_per_s": requests / seconds if seconds else 0.0,
        "errors": errors,
        "p50_ms": float(p[0]),
        "p99_ms": float(p[1]),
        "p999_ms": float(p[2]),
    }


def wrk_load(
    base: str,
    paths: list[str],
    bodies: list[str] | None,
    duration: float,
    conns: int,
    threads: int,
    work: Path,
) -> dict[str, Any]:
    """wrk for ``duration`` s over ``paths`` (POST ``bodies`` of the same index), one drawn per request."""
    (work / "paths.txt").write_text("\n".join(paths) + "\n")
    read_bodies = ""
    if bodies is not None:
        (work / "bodies.txt").write_text("\n".join(bodies) + "\n")
        read_bodies = f'for line in io.lines("{work / "bodies.txt"}") do bodies[#bodies + 1] = line end'
    script = work / "mix.lua"
    method = '"POST"' if bodies is not None else "nil"
    script.write_text(_LUA % {"paths": work / "paths.txt", "read_bodies": read_bodies, "method": method})
    command = ["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{duration:g}s", "-s", str(script), base]
    out = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    r = json.loads(line.removeprefix("WRKJSON "))
    seconds = r["duration_us"] / 1e6
    return {
        "requests": r["requests"],
        "seconds": seconds,
        "requests_per_s": r["requests"] / seconds,
        "errors": r["errors"],
        "p50_ms": r["p50_us"] / 1e3,
        "p99_ms": r["p99_us"] / 1e3,
        "p999_ms": r["p999_us"] / 1e3,
    }


def python_load(
    base: str,
    paths: list[str],
    bodies: list[str] | None,
    duration: float,
    conns: int,
    threads: int,
    work: Path,
) -> dict[str, Any]:
    """Fallback without wrk: ``min(conns, 16)`` keep-alive threads; bounded by the GIL, not the server."""
    host = urlsplit(base)
    deadline = time.monotonic() + duration
    latencies: list[float] = []
    counts = {"requests": 0, "errors": 0}
    lock = threading.Lock()

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        conn = http.client.HTTPConnection(host.hostname or "127.0.0.1", host.port, timeout=10)
        mine: list[float] = []
        errors = 0
        while time.monotonic() < deadline:
            i = int(rng.integers(len(paths)))
            t0 = time.perf_counter()
            if bodies is None:
                conn.request("GET", paths[i])
            else:
                conn.request("POST", paths[i], bodies[i], {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            mine.append((time.perf_counter() - t0) * 1e3)
            errors += response.status >= 400
        conn.close()
        with lock:
            latencies.extend(mine)
            counts["requests"] += len(mine)
            counts["errors"] += errors

    started = time.monotonic()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(min(conns, 16))]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return _summary(counts["requests"], time.monotonic() - started, counts["errors"], np.array(latencies))


def grpc_load(address: str, users: list[str], k: int, duration: float, threads: int) -> dict[str, Any]:
    """``threads`` synchronous gRPC clients calling Recommend for ``duration`` s (client-bound in Python)."""
    import grpc

    from pymk.serving.proto import recommender_pb2 as pb
    from pymk.serving.proto import recommender_pb2_grpc as pb_grpc

    deadline = time.monotonic() + duration
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    with grpc.insecure_channel(address) as channel:
        grpc.channel_ready_future(channel).result(timeout=20)
        stub = pb_grpc.RecommenderStub(channel)

        def worker(seed: int) -> None:
            rng = np.random.default_rng(seed)
            mine: list[float] = []
            bad = 0
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                try:
                    stub.Recommend(pb.RecommendRequest(user_id=users[int(rng.integers(len(users)))], k=k))
                except grpc.RpcError:
                    bad += 1
                mine.append((time.perf_counter() - t0) * 1e3)
            with lock:
                latencies.extend(mine)
                errors[0] += bad

        started = time.monotonic()
        pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    return _summary(len(latencies), time.monotonic() - started, errors[0], np.array(latencies))


_NGINX = """worker_processes %(workers)d;
daemon off;
pid %(work)s/nginx.pid;
error_log %(work)s/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %(work)s/tmp; proxy_temp_path %(work)s/tmp; fastcgi_temp_path %(work)s/tmp;
  uwsgi_temp_path %(work)s/tmp; scgi_temp_path %(work)s/tmp;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:%(port)d; root %(work)s/static; default_type application/json; }
}
"""


def nginx_baseline(
    body: bytes, duration: float, conns: int, threads: int, workers: int, work: Path
) -> dict[str, Any]:
    """wrk against nginx serving ``body`` as a static file, with the same load settings."""
    (work / "static").mkdir(exist_ok=True)
    (work / "tmp").mkdir(exist_ok=True)
    (work / "static" / "list.json").write_bytes(body)
    work.chmod(0o755)
    port = free_port()
    conf = work / "nginx.conf"
    conf.write_text(_NGINX % {"workers": workers, "work": work, "port": port})
    proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(work)], stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(f"{base}/list.json", proc)  # type: ignore[arg-type]
        return wrk_load(base, ["/list.json"], None, duration, conns, threads, work)
    finally:
        proc.terminate()
        proc.wait(10)
