"""What one source does beyond the shared contract: file positions, Redis recovery, URL parsing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pymk.errors import ConfigError, InvalidInput
from pymk.stream import open_sink, open_source
from pymk.stream.file import FileSink, FileSource, default_state_path


def test_file_source_follows_a_growing_file_and_waits_for_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    source = FileSource(path)
    assert source.poll(10, timeout=0.05) == []  # no file yet
    path.write_bytes(b"one\n\n   \ntw")
    assert [(r.id, r.payload) for r in source.poll(10, timeout=0.05)] == [("1", b"one")]
    assert source.poll(10, timeout=0.05) == []  # "tw" is a line still being written
    with open(path, "ab") as handle:
        handle.write(b"o\r\nthree\n")
    got = source.poll(10, timeout=0.05)
    assert [(r.id, r.payload) for r in got] == [("4", b"two"), ("5", b"three")]
    source.close()


def test_file_source_without_follow_reads_the_unterminated_last_line(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"a\nb")
    source = open_source(f"file://{path}?follow=0")
    assert [r.payload for r in source.poll(10, timeout=0.05)] == [b"a", b"b"]
    source.close()


def test_file_positions_are_per_group_and_survive_restarts(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    sink = FileSink(path)
    sink.publish([b"1", b"2", b"3"])
    first = FileSource(path, group="g1")
    first.ack(first.poll(2))
    first.close()
    assert default_state_path(path, "g1").exists()
    other = FileSource(path, group="g2")  # another group starts at the beginning
    assert [r.payload for r in other.poll(10)] == [b"1", b"2", b"3"]
    other.close()
    sink.publish([b"4"])
    again = FileSource(path, group="g1")
    assert [r.payload for r in again.poll(10, timeout=0.05)] == [b"3", b"4"]
    again.close()


def test_file_state_path_can_be_given(tmp_path: Path) -> None:
    path, state = tmp_path / "s.jsonl", tmp_path / "state" / "pos.json"
    FileSink(path).publish([b"x", b"y"])
    source = open_source(f"file://{path}?state={state}")
    source.ack(source.poll(1))
    source.close()
    assert state.exists()
    source = open_source(f"file://{path}?state={state}")
    assert [r.payload for r in source.poll(10)] == [b"y"]
    source.close()


def test_corrupt_file_state_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    default_state_path(path, "pymk").write_text("{nope")
    with pytest.raises(ConfigError, match="corrupt"):
        FileSource(path)


def test_file_sink_refuses_a_newline_inside_a_record(tmp_path: Path) -> None:
    sink = FileSink(tmp_path / "s.jsonl")
    with pytest.raises(InvalidInput):
        sink.publish([b"a\nb"])
    with pytest.raises(ValueError):
        sink.publish([b"a"], [b"k1", b"k2"])
    sink.close()


@pytest.mark.parametrize(
    "url",
    ["nats://x", "file://host/path.jsonl", "file:", "file:///x.jsonl?colour=blue", "kafka://?topic=t"],
)
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        open_source(url)


def test_relative_file_urls_are_relative_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    sink = open_sink("file:sub/events.jsonl")
    sink.publish([b"x"])
    sink.close()
    assert (tmp_path / "sub" / "events.jsonl").read_bytes() == b"x\n"


@pytest.mark.integration
def test_redis_entries_of_a_dead_consumer_are_claimed(redis_url: str, redis_prefix: str) -> None:
    url = f"{redis_url}?stream={redis_prefix}ev&group=g&claim_idle=0.2&claim_every=0.05"
    open_sink(url).publish([b"a", b"b", b"c"])
    dead = open_source(url, consumer="dead")
    assert len(dead.poll(10)) == 3  # delivered, never acked: then the process dies
    dead.ack([])
    heir = open_source(url, consumer="heir")
    assert heir.poll(10, timeout=0.05) == []  # not idle long enough yet
    time.sleep(0.3)
    got = []
    deadline = time.monotonic() + 5
    while len(got) < 3 and time.monotonic() < deadline:
        got += heir.poll(10, timeout=0.1)
    assert sorted(r.payload for r in got) == [b"a", b"b", b"c"]
    heir.ack(got)
    dead.close()
    heir.close()
    assert open_source(url, consumer="dead").poll(10, timeout=0.1) == []  # its PEL moved to the heir


@pytest.mark.integration
def test_redis_entry_without_the_event_field_is_delivered_as_its_fields(
    redis_url: str, redis_prefix: str
) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    client.xadd(f"{redis_prefix}ev", {"payload": "x", "n": "1"})
    source = open_source(f"{redis_url}?stream={redis_prefix}ev", consumer="c")
    assert [r.payload for r in source.poll(10)] == [b'{"payload": "x", "n": "1"}']
    source.close()
    client.close()


@pytest.mark.integration
def test_redis_pending_entries_are_reread_in_batches(redis_url: str, redis_prefix: str) -> None:
    url = f"{redis_url}?stream={redis_prefix}ev&group=g"
    open_sink(url).publish([b"%d" % i for i in range(7)])
    first = open_source(url, consumer="w")
    assert len(first.poll(7)) == 7
    first.close()
    again = open_source(url, consumer="w")
    batches = [again.poll(3, timeout=0.05) for _ in range(4)]
    assert [[r.payload for r in b] for b in batches] == [[b"0", b"1", b"2"], [b"3", b"4", b"5"], [b"6"], []]
    again.close()


def test_the_default_events_url_is_a_file_under_home(tmp_path: Path) -> None:
    from pymk.config import load_settings

    settings = load_settings(home=tmp_path)
    sink = open_sink(settings.resolve(settings.events_url))
    sink.publish([b"e"])
    sink.close()
    assert (tmp_path / "stream" / "events.jsonl").read_bytes() == b"e\n"
    assert settings.resolve("file:///abs/x.jsonl?group=g") == "file:///abs/x.jsonl?group=g"


@pytest.mark.integration
def test_redis_source_survives_its_stream_being_deleted(redis_url: str, redis_prefix: str) -> None:
    import redis

    url = f"{redis_url}?stream={redis_prefix}ev&group=g"
    open_sink(url).publish([b"old"])
    source = open_source(url, consumer="c")
    assert [r.payload for r in source.poll(10)] == [b"old"]
    client = redis.Redis.from_url(redis_url)
    client.delete(f"{redis_prefix}ev")
    assert source.poll(10, timeout=0.05) == []
    open_sink(url).publish([b"new"])
    assert [r.payload for r in source.poll(10, timeout=0.5)] == [b"new"]
    client.set(f"{redis_prefix}not-a-stream", "x")
    with pytest.raises(ConfigError, match="event stream"):
        open_source(f"{redis_url}?stream={redis_prefix}not-a-stream")
    source.close()
    client.close()
