"""Crash safety for real: ``pymk worker`` SIGKILLed mid-batch several times, then restarted to the end,
leaves exactly the state of one clean run over the same stream (graph, online store, dead letters,
event log) — issue 5, item 5."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _worker_state import (
    MessyStream,
    dead_letters,
    graph_state,
    log_ids,
    messy_stream,
    online_state,
    write_stream,
)

from pymk import stores
from pymk.config import load_settings
from pymk.online import open_online
from pymk.stream import open_sink, open_source
from pymk.stream.file import FileSource
from pymk.stream.journal import journal_path

pytestmark = [pytest.mark.integration, pytest.mark.slow]

_WORKER = "from pymk.cli import main; main()"


def _env(home: Path, online_url: str, stall: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYMK_")}
    env.update(PYMK_HOME=str(home), PYMK_ONLINE_URL=online_url, PYMK_TEST_WORKER_STALL_S=str(stall))
    return env


def _parts(home: Path) -> int:
    """Committed event-log parts: one or more per batch, so the count moves once per batch."""
    return len(list((home / "events").glob("date=*/part-*.parquet")))


def _run_worker(
    home: Path, events_url: str, online_url: str, *, stall: float, kill_after_batches: int | None
) -> bool:
    """Run ``pymk worker``; with ``kill_after_batches``, SIGKILL it shortly after that many batches
    wrote their event-log parts, inside a stalled batch. Returns whether a journal was left."""
    args = ["worker", "--events-url", events_url, "--batch-size", "400", "--idle-exit", "1.0"]
    child = subprocess.Popen(
        [sys.executable, "-c", _WORKER, *args],
        env=_env(home, online_url, stall),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        if kill_after_batches is None:
            _, err = child.communicate(timeout=120)
            assert child.returncode == 0, err.decode()
            return journal_path(home, "pymk").exists()
        seen, last, deadline = 0, _parts(home), time.monotonic() + 60
        while seen < kill_after_batches:
            assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
            assert time.monotonic() < deadline, "the worker made no progress"
            parts = _parts(home)
            if parts != last:
                seen, last = seen + 1, parts
            time.sleep(0.005)
        time.sleep(stall * 1.5)  # a step or two further (each step of a batch stalls `stall` seconds)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        return journal_path(home, "pymk").exists()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def _stream_url(kind: str, where: Path, redis_url: str, prefix: str, stream: MessyStream) -> str:
    """A fresh stream holding ``stream``'s payloads, as a ``pymk worker`` URL."""
    if kind == "file":
        write_stream(where.with_suffix(".jsonl"), stream)
        return f"file://{where.with_suffix('.jsonl')}"
    url = f"{redis_url}?stream={prefix}{where.name}&claim_idle=0.3&claim_every=0.1"
    sink = open_sink(url)
    for start in range(0, len(stream.payloads), 1000):
        sink.publish(stream.payloads[start : start + 1000])
    sink.close()
    return url


def _unacked(url: str) -> int | None:
    source = open_source(url, consumer="test-check") if url.startswith("redis") else None
    if source is None:
        return FileSource(Path(url[len("file://") :]), follow=False).lag()
    try:
        return source.lag()
    finally:
        source.close()


@pytest.mark.parametrize("kind", ["file", "redis"])
def test_killed_and_restarted_worker_ends_like_one_clean_run(
    kind: str, tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    stream = messy_stream()
    crashed_home, clean_home = tmp_path / "crashed", tmp_path / "clean"
    crashed_url = _stream_url(kind, tmp_path / "crashed-stream", redis_url, redis_prefix, stream)
    clean_url = _stream_url(kind, tmp_path / "clean-stream", redis_url, redis_prefix, stream)
    crashed_online = f"{redis_url}?prefix={redis_prefix}crashed:"
    clean_online = f"{redis_url}?prefix={redis_prefix}clean:"

    mid_batch = [
        _run_worker(crashed_home, crashed_url, crashed_online, stall=0.04, kill_after_batches=n)
        for n in (2, 3, 4)
    ]
    assert any(mid_batch), "no kill landed inside a batch"
    assert _unacked(crashed_url)
    _run_worker(crashed_home, crashed_url, crashed_online, stall=0.0, kill_after_batches=None)
    _run_worker(clean_home, clean_url, clean_online, stall=0.0, kill_after_batches=None)

    assert not journal_path(crashed_home, "pymk").exists()
    assert _unacked(crashed_url) == _unacked(clean_url) == 0
    assert graph_state(crashed_home) == graph_state(clean_home)
    assert graph_state(clean_home)["edges"]
    stores_of, positions = {}, []
    for name, home, url in (("crashed", crashed_home, crashed_online), ("clean", clean_home, clean_online)):
        settings = load_settings(home=home)
        letters, online = stores.deadletter_store(settings), open_online(url)
        stores_of[name] = (dead_letters(letters), online_state(online, stream))
        positions.append([r.source for r in letters.list(limit=1_000_000)])
        letters.close()
        online.close()
    assert stores_of["crashed"] == stores_of["clean"]
    # Every bad record stored once, under its own stream position.
    assert all(len(p) == len(set(p)) == stream.bad for p in positions)

    crashed_ids, clean_ids = log_ids(crashed_home), log_ids(clean_home)
    assert len(crashed_ids) == len(set(crashed_ids)) == len(stream.valid)
    assert set(crashed_ids) == set(clean_ids) == stream.valid
