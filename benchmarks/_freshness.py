"""Event → visible recommendation, end to end: real ``pymk serve`` and ``pymk worker`` processes on Redis.

Shared by ``tests/serving/test_freshness_e2e.py`` (one event, a 1 s bound) and
``benchmarks/freshness_e2e.py`` (hundreds of events, p50/p99). :func:`build_home` is ``pymk import`` of
a simulated network + ``pymk train`` (a tiny pipeline) + ``pymk batch``; :class:`Stack` starts the
server and the worker on one Redis event stream and online store (under a fresh key prefix) the way
issue 5's "Done when" configures them; :func:`mutual_pairs` finds users listed in each other's lists;
:meth:`Stack.connect_and_wait` ``XADD``\\ s a ``connect`` and times until neither user lists the other
(and, given them, one of B's friends is in A's list: :func:`friends` reads them from the events).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _tiny import TINY_PIPELINE as TINY


def build_home(root: Path, *, users: int = 300, k: int = 30) -> Path:
    """A home under ``root`` with an imported simulated network, an active model and lists of width ``k``."""
    from pymk.config import load_settings
    from pymk.io.importer import import_file
    from pymk.models.bundle import config_from_dict
    from pymk.serving.batch import run_batch
    from pymk.sim import SimConfig, simulate, write_jsonl
    from pymk.training.tracking import MemoryTracker
    from pymk.training.train import train_home

    events = root / "events.jsonl"
    write_jsonl(simulate(SimConfig(users=users, days=60, seed=0)), events)
    settings = load_settings(home=root / "home", tracking_url="memory://")
    import_file(events, "events-jsonl", settings)
    result = train_home(settings, config=config_from_dict(dict(TINY)), tracker=MemoryTracker())
    if not result.promoted:
        raise RuntimeError("the trained model was not promoted")
    run_batch(settings, k=k, workers=1)
    return settings.home


def mutual_pairs(home: Path, k: int = 30) -> list[tuple[str, str]]:
    """Pairs ``(a, b)``, ``a < b``, where each is in the other's stored top-``k`` (sorted)."""
    from pymk.config import load_settings
    from pymk.models.bundle import USERS_FILE
    from pymk.registry import open_registry
    from pymk.serving.lists_mmap import MmapListStore

    active = open_registry(load_settings(home=home, tracking_url="memory://")).active()
    assert active is not None, "no active model: run build_home first"
    users = [str(u) for u in json.loads((active.path / USERS_FILE).read_text())]
    store = MmapListStore(home / "lists")
    lists: dict[str, set[str]] = {}
    for user in users:
        found = store.get(user, k)
        if found is not None:
            lists[user] = {d["user_id"] for d in found.item_dicts()}
    store.close()
    return sorted(
        {(min(a, b), max(a, b)) for a, items in lists.items() for b in items if a in lists.get(b, ())}
    )


def friends(home: Path) -> dict[str, set[str]]:
    """Each user's neighbours in the simulated events under ``home``'s parent: the pairs of interaction
    events (connect, follow, message, like), the graph the model's snapshot is built from."""
    from pymk.events.schema import INTERACTION_TYPES

    kinds = {t.value for t in INTERACTION_TYPES}
    out: dict[str, set[str]] = {}
    with open(home.parent / "events.jsonl", encoding="utf-8") as lines:
        for line in lines:
            e = json.loads(line)
            if e.get("type") in kinds and e.get("target") is not None and e["actor"] != e["target"]:
                out.setdefault(e["actor"], set()).add(e["target"])
                out.setdefault(e["target"], set()).add(e["actor"])
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_items(base: str, user: str, k: int = 30) -> list[str]:
    """The user ids ``GET /v1/users/{user}/recommendations?k=`` lists ([] on 404)."""
    try:
        with urllib.request.urlopen(f"{base}/v1/users/{user}/recommendations?k={k}", timeout=5) as r:
            body: dict[str, Any] = json.loads(r.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return []
        raise
    return [item["user_id"] for item in body["items"]]


@dataclass
class Stack:
    """``pymk serve`` (HTTP only) and ``pymk worker`` on ``home``, sharing Redis at ``redis_url``.

    Keys go under ``prefix`` (stream ``<prefix>events``, online store ``<prefix>online:``);
    :meth:`close` stops both processes and deletes the keys.
    """

    home: Path
    redis_url: str = "redis://127.0.0.1:6379/0"
    prefix: str = field(default_factory=lambda: f"pymk-fresh:{uuid.uuid4().hex[:10]}:")
    follow_ms: float = 50.0
    port: int = field(default_factory=_free_port)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stream(self) -> str:
        return f"{self.prefix}events"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PYMK_HOME": str(self.home),
            "PYMK_TRACKING_URL": "memory://",
            "PYMK_EVENTS_URL": f"{self.redis_url}?stream={self.stream}",
            "PYMK_ONLINE_URL": f"{self.redis_url}?prefix={self.prefix}online:",
            "PYMK_FOLLOW_INTERVAL_MS": str(self.follow_ms),
            "PYMK_WORKER_POLL_S": "0.2",
        }

    def _spawn(self, name: str, *args: str) -> None:
        log = self.home.parent / f"{name}-{self.port}.log"
        self.logs.append(log)
        command = [sys.executable, "-c", "from pymk.cli import main; main()", *args]
        with open(log, "wb") as out:
            self.procs.append(subprocess.Popen(command, env=self.env(), stdout=out, stderr=subprocess.STDOUT))

    def start(self, timeout: float = 60.0) -> Stack:
        """Start the worker and the server; return once ``/readyz`` answers 200."""
        self._spawn("worker", "worker")
        self._spawn("serve", "serve", "--port", str(self.port), "--no-grpc")
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.base}/readyz", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            if any(p.poll() is not None for p in self.procs) or time.monotonic() > deadline:
                raise RuntimeError(f"the stack did not start:\n{self.output()}")
            time.sleep(0.1)

    def xadd(self, event: dict[str, Any]) -> None:
        import redis

        client = redis.Redis.from_url(self.redis_url)
        try:
            client.xadd(self.stream, {"event": json.dumps(event)})
        finally:
            client.close()

    def connect_and_wait(
        self, a: str, b: str, *, timeout: float = 5.0, k: int = 30, new_for_a: Collection[str] = ()
    ) -> float:
        """``XADD`` a connect between ``a`` and ``b``; seconds until neither GET lists the other and, when
        ``new_for_a`` (e.g. ``b``'s friends that are not ``a``'s) holds users missing from ``a``'s list
        before the event, one of them is in it (``timeout`` + 1 when that takes longer than ``timeout``)."""
        import redis

        wanted = set(new_for_a) - set(get_items(self.base, a, k))
        client = redis.Redis.from_url(self.redis_url)
        event = {
            "event_id": f"fresh-{uuid.uuid4().hex}",
            "ts": time.time(),
            "type": "connect",
            "actor": a,
            "target": b,
        }
        try:
            started = time.perf_counter()
            client.xadd(self.stream, {"event": json.dumps(event)})
            while True:
                elapsed = time.perf_counter() - started
                listed = get_items(self.base, a, k)
                if b not in listed and a not in get_items(self.base, b, k):
                    if not wanted or wanted.intersection(listed):
                        return elapsed
                if elapsed > timeout:
                    return timeout + 1.0
                time.sleep(0.002)
        finally:
            client.close()

    def output(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in self.logs)

    def close(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        import redis

        client = redis.Redis.from_url(self.redis_url)
        try:
            keys = list(client.scan_iter(match=self.prefix + "*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()
