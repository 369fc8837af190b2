"""Crash safety for real: ``pymk worker`` SIGKILLed mid-batch several times, then restarted to the end,
leaves exactly the state of one clean run over the same stream (graph, online store, dead letters,
event log) — issue 5, item 5."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _worker_state import (
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
from pymk.stream.file import default_state_path
from pymk.stream.journal import journal_path

pytestmark = [pytest.mark.integration, pytest.mark.slow]

_WORKER = "from pymk.cli import main; main()"


def _env(home: Path, online_url: str, stall: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYMK_")}
    env.update(PYMK_HOME=str(home), PYMK_ONLINE_URL=online_url, PYMK_TEST_WORKER_STALL_S=str(stall))
    return env


def _acked_line(stream: Path) -> int:
    try:
        return int(json.loads(default_state_path(stream, "pymk").read_text())["line"])
    except (FileNotFoundError, ValueError):
        return 0


def _run_worker(
    home: Path, stream: Path, online_url: str, *, stall: float, kill_after_acks: int | None
) -> bool:
    """Run ``pymk worker`` on ``stream``; with ``kill_after_acks``, SIGKILL it once the acked position
    moved that many times, half-way through a stalled batch. Returns whether a journal was left."""
    args = ["worker", "--events-url", f"file://{stream}", "--batch-size", "400", "--idle-exit", "0.5"]
    child = subprocess.Popen(
        [sys.executable, "-c", _WORKER, *args],
        env=_env(home, online_url, stall),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        if kill_after_acks is None:
            _, err = child.communicate(timeout=120)
            assert child.returncode == 0, err.decode()
            return journal_path(home, "pymk").exists()
        seen, last, deadline = 0, _acked_line(stream), time.monotonic() + 60
        while seen < kill_after_acks:
            assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
            assert time.monotonic() < deadline, "the worker made no progress"
            line = _acked_line(stream)
            if line != last:
                seen, last = seen + 1, line
            time.sleep(0.005)
        time.sleep(stall * 2.5)  # into the next batch's steps (each step stalls `stall` seconds)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        return journal_path(home, "pymk").exists()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_killed_and_restarted_worker_ends_like_one_clean_run(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    stream = messy_stream()
    crashed_home, clean_home = tmp_path / "crashed", tmp_path / "clean"
    crashed_stream, clean_stream = tmp_path / "crashed.jsonl", tmp_path / "clean.jsonl"
    write_stream(crashed_stream, stream)
    write_stream(clean_stream, stream)
    crashed_online = f"{redis_url}?prefix={redis_prefix}crashed:"
    clean_online = f"{redis_url}?prefix={redis_prefix}clean:"

    mid_batch = [
        _run_worker(crashed_home, crashed_stream, crashed_online, stall=0.04, kill_after_acks=n)
        for n in (2, 3, 4)
    ]
    assert any(mid_batch), "no kill landed inside a batch"
    assert 0 < _acked_line(crashed_stream) < len(stream.payloads)
    _run_worker(crashed_home, crashed_stream, crashed_online, stall=0.0, kill_after_acks=None)
    _run_worker(clean_home, clean_stream, clean_online, stall=0.0, kill_after_acks=None)

    assert not journal_path(crashed_home, "pymk").exists()
    assert _acked_line(crashed_stream) == _acked_line(clean_stream) == len(stream.payloads)
    assert graph_state(crashed_home) == graph_state(clean_home)
    assert graph_state(clean_home)["edges"]

    stores_of = {}
    for name, home, url in (("crashed", crashed_home, crashed_online), ("clean", clean_home, clean_online)):
        settings = load_settings(home=home)
        letters, online = stores.deadletter_store(settings), open_online(url)
        stores_of[name] = (dead_letters(letters), online_state(online, stream))
        letters.close()
        online.close()
    assert stores_of["crashed"] == stores_of["clean"]
    letters_clean = stores_of["clean"][0]
    assert len(letters_clean) == stream.bad == len({row[3] for row in letters_clean})

    crashed_ids, clean_ids = log_ids(crashed_home), log_ids(clean_home)
    assert len(crashed_ids) == len(set(crashed_ids)) == len(stream.valid)
    assert set(crashed_ids) == set(clean_ids) == stream.valid
