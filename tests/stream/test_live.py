"""``pymk simulate --live``: the token bucket, the steady-rate publisher, and the command on Redis."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from pymk.cli import app
from pymk.sim import SimConfig, simulate
from pymk.stream import open_sink, open_source
from pymk.stream.live import TokenBucket, publish_live


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.unit
def test_token_bucket_holds_the_rate_over_any_request_sizes() -> None:
    clock = FakeClock()
    bucket = TokenBucket(100.0, burst=10, clock=clock, sleep=clock.sleep)
    taken = 0
    for n in [1, 5, 50, 3, 200, 7] * 5:
        bucket.take(n)
        taken += n
    # The first `burst` tokens are free; everything after is paid at 100 a second.
    assert clock.now == pytest.approx((taken - 10) / 100.0)


@pytest.mark.unit
def test_publish_live_stops_at_max_events_and_stamps_the_publishing_time(tmp_path: Path) -> None:
    result = simulate(SimConfig(users=120, seed=1, days=5))
    sink = open_sink(f"file://{tmp_path / 's.jsonl'}")
    report = publish_live(sink, result.iter_tables(), rate=4000.0, max_events=900)
    sink.close()
    assert report.published == 900
    assert 900 / 4000 * 0.7 < report.seconds < 2.0  # the burst lets the first chunk through at once
    lines = (tmp_path / "s.jsonl").read_bytes().splitlines()
    assert len(lines) == 900
    first, last = orjson.loads(lines[0]), orjson.loads(lines[-1])
    assert first["event_id"].endswith("-0") and last["event_id"].endswith("-899")
    assert last["ts"] - first["ts"] == pytest.approx(report.seconds, abs=0.2)


@pytest.mark.unit
def test_publish_live_stops_after_duration(tmp_path: Path) -> None:
    result = simulate(SimConfig(users=120, seed=1, days=5))
    sink = open_sink(f"file://{tmp_path / 's.jsonl'}")
    report = publish_live(sink, result.iter_tables(), rate=200.0, duration=0.5, stamp_now=False)
    sink.close()
    assert 0.45 <= report.seconds < 1.0
    assert 80 <= report.published <= 130


@pytest.mark.integration
def test_simulate_live_publishes_to_redis_streams(tmp_path: Path, redis_url: str, redis_prefix: str) -> None:
    url = f"{redis_url}?stream={redis_prefix}live"
    out = CliRunner().invoke(
        app,
        ["simulate", "--live", "--to", url, "--users", "120", "--rate", "5000", "--events", "500"],
        env={"PYMK_HOME": str(tmp_path)},
    )
    assert out.exit_code == 0, out.output
    source = open_source(url, consumer="t")
    got = []
    while len(got) < 500 and (batch := source.poll(1000, timeout=1.0)):
        got += batch
    source.close()
    assert len(got) == 500
    assert orjson.loads(got[0].payload)["type"] == "signup"


@pytest.mark.unit
def test_worker_applies_a_live_stream_promptly(tmp_path: Path) -> None:
    """Freshness (apply time minus the publishing time stamped in ``ts``) and lag, end to end on the
    embedded file stream: publishing at 2,000 events/s while the worker consumes."""
    import threading

    from pymk.events.deadletter import MemoryDeadLetterStore
    from pymk.events.dedupe import MemorySeenEvents
    from pymk.online import MemoryOnlineStore
    from pymk.stream.worker import Worker

    url = f"file://{tmp_path / 's.jsonl'}"
    result = simulate(SimConfig(users=120, seed=2, days=5))
    sink = open_sink(url)
    publisher = threading.Thread(
        target=publish_live, args=(sink, result.iter_tables()), kwargs={"rate": 2000.0, "max_events": 2000}
    )
    worker = Worker(
        open_source(url),
        tmp_path / "home",
        seen=MemorySeenEvents(),
        deadletters=MemoryDeadLetterStore(),
        online=MemoryOnlineStore(),
        source_name="s",
        batch_size=500,
        poll_s=0.05,
    )
    publisher.start()
    report = worker.run(idle_exit=0.5)
    publisher.join()
    sink.close()
    assert report.applied == 2000 and report.lag == 0
    p99 = report.freshness(0.99)
    assert p99 is not None and 0 <= p99 < 2.0  # ~0.1 s here; slack for a loaded 2-core CI machine


@pytest.mark.unit
def test_stream_name_keeps_the_stream_and_drops_consumer_settings_and_credentials() -> None:
    from pymk.cli.worker import stream_name

    url = "redis://:secret@h:6379/0?stream=ev&group=g&consumer=c1&claim_idle=3"
    assert stream_name(url) == ("redis://h:6379/0?stream=ev", "g")
    assert stream_name("file:/x/e.jsonl") == ("file:/x/e.jsonl", "pymk")
    assert stream_name("kafka://b:9092?topic=t&session.timeout.ms=6000") == ("kafka://b:9092?topic=t", "pymk")


@pytest.mark.integration
def test_simulate_live_to_kafka_then_the_worker_applies_everything(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    import uuid

    from pymk.cli.worker import run_worker
    from pymk.config import load_settings

    tag = uuid.uuid4().hex[:8]
    fast_join = "session.timeout.ms=6000&heartbeat.interval.ms=500"  # Tansu: a join takes ~timeout/2
    url = f"kafka://{kafka_bootstrap}?topic=live-{tag}&group=w-{tag}&partitions=2&{fast_join}"
    args = ["simulate", "--live", "--to", url, "--users", "120", "--rate", "5000", "--events", "600"]
    out = CliRunner().invoke(app, args, env={"PYMK_HOME": str(tmp_path)})
    assert out.exit_code == 0, out.output
    settings = load_settings(
        home=tmp_path, events_url=url, dedupe_url="memory://", deadletter_url="memory://"
    )
    report = run_worker(settings, max_events=600, idle_exit=20.0)  # idle_exit: a safety net only
    assert report.applied == 600 and report.rejected == 0 and report.lag == 0
