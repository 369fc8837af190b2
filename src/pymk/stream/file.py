"""JSONL file as an event stream (the embedded default): ``file:///abs/events.jsonl?group=pymk``.

One record per line, in file order; a record's id is its 1-based line number. The file is append-only:
the sink appends whole lines, the source follows it as it grows (``follow=True``, like ``tail -f``: a last
line without its newline is a line still being written and waits) or reads a finished file
(``follow=False``: end of file ends the last line). Blank lines are not records.

The committed position of a group (line number and byte offset after the acked prefix) lives in a small
JSON file, by default ``<file>.<group>.offset`` next to the stream, rewritten atomically and fsynced on
every ``ack`` that moves it. One consumer per group: an exclusive ``flock`` on ``<state>.lock``, released
by the kernel when the process dies, so a crashed worker restarts cleanly and a second live one is refused.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from pymk.errors import ConfigError, InvalidInput
from pymk.stream._prefix import AckedPrefix
from pymk.stream.base import Record, check_keys


def default_state_path(path: Path, group: str) -> Path:
    """Where the position of ``group`` on the stream file ``path`` is kept by default."""
    return path.with_name(f"{path.name}.{group}.offset")


class FileSource:
    """Consumer of a JSONL stream file for one group (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        *,
        group: str = "pymk",
        state_path: Path | None = None,
        follow: bool = True,
        poll_interval: float = 0.02,
    ) -> None:
        self.path = path
        self.state_path = state_path or default_state_path(path, group)
        self._follow = follow
        self._interval = poll_interval
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.state_path.with_name(self.state_path.name + ".lock"), "ab")  # noqa: SIM115
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._lock.close()
            raise ConfigError(f"another consumer of group {group!r} is reading {path}") from exc
        self._line, self._offset = self._load()
        self._ends: dict[int, int] = {self._line: self._offset}
        self._prefix = AckedPrefix()
        self._handle: BinaryIO | None = None

    def _load(self) -> tuple[int, int]:
        try:
            state = json.loads(self.state_path.read_text())
            return int(state["line"]), int(state["offset"])
        except FileNotFoundError:
            return 0, 0
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"corrupt stream position file {self.state_path}: {exc}") from exc

    def poll(self, max_records: int = 1000, timeout: float = 1.0) -> list[Record]:
        deadline = time.monotonic() + timeout
        while True:
            records = self._read(max_records)
            left = deadline - time.monotonic()
            if records or left <= 0:
                return records
            time.sleep(min(self._interval, left))

    def _read(self, max_records: int) -> list[Record]:
        if self._handle is None:
            try:
                self._handle = open(self.path, "rb")  # noqa: SIM115
            except FileNotFoundError:
                return []
        handle = self._handle
        handle.seek(self._offset)
        records: list[Record] = []
        while len(records) < max_records:
            line = handle.readline()
            if not line or (self._follow and not line.endswith(b"\n")):
                break
            self._line += 1
            self._offset += len(line)
            self._ends[self._line] = self._offset
            self._prefix.deliver(self._line)
            body = line.rstrip(b"\r\n")
            if body.strip():
                records.append(Record(str(self._line), body))
            else:
                self._prefix.ack(self._line)  # not a record: never waits for an ack
        return records

    def ack(self, records: Sequence[Record]) -> None:
        commit = None
        for record in records:
            moved = self._prefix.ack(int(record.id))
            if moved is not None:
                commit = moved
        if commit is None:
            return
        line = commit - 1
        state = json.dumps({"line": line, "offset": self._ends[line]}).encode()
        for done in [n for n in self._ends if n < line]:
            del self._ends[done]
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        with open(tmp, "wb") as handle:
            handle.write(state)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.state_path)

    def lag(self) -> int | None:
        """Complete lines after the committed position (blank lines included: an upper bound)."""
        committed = min(self._ends)  # the committed line's end offset is the smallest kept
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._ends[committed])
                return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
        except FileNotFoundError:
            return 0

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if not self._lock.closed:
            self._lock.close()  # releases the flock


class FileSink:
    """Appends records to a JSONL stream file, one line each; keys are not kept (one file, one order)."""

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fsync = fsync
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def publish(self, payloads: Sequence[bytes], keys: Sequence[bytes | None] | None = None) -> None:
        check_keys(payloads, keys)
        if any(b"\n" in p for p in payloads):
            raise InvalidInput("a JSONL stream record cannot contain a newline")
        data = memoryview(b"".join(p + b"\n" for p in payloads))
        while data:  # one append per batch; loop only on a short write
            data = data[os.write(self._fd, data) :]
        if self._fsync:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
