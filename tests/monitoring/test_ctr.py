"""CTR and acceptance attribution (:mod:`pymk.monitoring.ctr`) on hand-made event logs."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from pymk.errors import InvalidInput
from pymk.io.eventlog import LOG_SCHEMA, EventLogWriter
from pymk.monitoring.ctr import ALL_SOURCES, DAY, HOUR, UNATTRIBUTED, CtrReport, ctr_report, wilson

pytestmark = pytest.mark.unit
T0 = 1_790_000_000.0 - 1_790_000_000.0 % DAY  # a UTC midnight
_n = iter(range(1_000_000))


def ev(
    ts: float,
    etype: str,
    actor: str,
    target: str,
    rid: str | None = None,
    version: str = "v1",
    source: str = "precomputed",
    event_id: str | None = None,
) -> dict[str, Any]:
    """One event row; ``rid`` set: attributed to request ``rid`` of ``version``/``source``."""
    props = None
    if rid is not None:
        props = orjson.dumps({"request_id": rid, "model_version": version, "source": source}).decode()
    return {
        "event_id": event_id or f"e{next(_n)}",
        "ts": T0 + ts,
        "type": etype,
        "actor": actor,
        "target": target,
        "props": props,
    }


def report(rows: list[dict[str, Any]], **kwargs: Any) -> CtrReport:
    return ctr_report(pa.Table.from_pylist(rows), **kwargs)


def counts(r: CtrReport, version: str, source: str = ALL_SOURCES) -> tuple[int, int, int]:
    row = r.total(version, source)
    assert row is not None, f"no row for {version}/{source}"
    return row.impressions, row.clicks, row.accepted


def test_duplicates_are_not_double_counted() -> None:
    rows = [
        ev(0, "impression", "a", "b", "r1"),
        ev(5, "impression", "a", "b", "r1"),  # the same item re-shown in the same response
        ev(6, "impression", "a", "c", "r1"),
        ev(7, "click", "a", "b", "r1"),
        ev(8, "click", "a", "b", "r1"),  # a double click
        ev(100, "impression", "a", "b", "r2"),  # another request: another impression
    ]
    replayed = [dict(rows[2]), dict(rows[3])]  # a replayed event keeps its event_id
    r = report(rows + replayed)
    assert counts(r, "v1") == (3, 1, 0)
    row = r.total("v1", "precomputed")
    assert row is not None and row.ctr == pytest.approx(1 / 3)
    assert r.unmatched_clicks == 0


def test_clicks_without_impression_are_counted_apart() -> None:
    r = report(
        [ev(0, "impression", "a", "b", "r1"), ev(1, "click", "a", "c", "r1"), ev(2, "click", "a", "b", "r9")]
    )
    assert counts(r, "v1") == (1, 0, 0) and r.unmatched_clicks == 2


def test_acceptance_goes_to_the_last_touch() -> None:
    rows = [
        ev(0, "impression", "a", "b", "r1", version="v1"),
        ev(100, "impression", "a", "b", "r2", version="v2", source="realtime"),
        ev(150, "impression", "a", "c", "r2", version="v2", source="realtime"),
        ev(200, "connect", "b", "a"),  # either direction
        ev(300, "impression", "a", "b", "r3", version="v1"),  # after the connect: no credit
        ev(400, "impression", "c", "a", "r4", version="v1"),  # the other user's view is the later touch
        ev(500, "connect", "a", "c"),
    ]
    r = report(rows)
    assert counts(r, "v1") == (3, 0, 1) and counts(r, "v2") == (2, 0, 1)
    assert counts(r, "v2", "realtime") == (2, 0, 1)
    v2 = r.total("v2")
    assert v2 is not None and v2.acceptance == 0.5


def test_the_attribution_window_is_honoured() -> None:
    rows = [
        ev(0, "impression", "a", "b", "r1"),
        ev(7 * DAY + 1, "connect", "a", "b"),  # one second past the default 7 days
        ev(0, "impression", "a", "c", "r1"),
        ev(7 * DAY, "connect", "c", "a"),  # exactly at the edge: inside
        ev(10, "impression", "a", "d", "r1"),
        ev(5, "connect", "a", "d"),  # before the impression: not caused by it
    ]
    assert counts(report(rows), "v1") == (3, 0, 1)
    assert counts(report(rows, window_s=8 * DAY), "v1") == (3, 0, 2)
    assert counts(report(rows, window_s=0), "v1") == (3, 0, 0)


def test_unattributed_feedback_is_counted_separately() -> None:
    rows = [
        ev(0, "impression", "a", "b", "r1"),
        ev(1, "impression", "x", "y"),
        ev(1, "impression", "x", "y"),  # unattributed: each event is its own impression
        ev(2, "click", "x", "y"),
        ev(3, "impression", "a", "b"),  # an unattributed later touch takes the connect
        ev(10, "connect", "a", "b"),
    ]
    r = report(rows)
    assert counts(r, "v1") == (1, 0, 0)
    lone = r.total(UNATTRIBUTED, UNATTRIBUTED)
    assert lone is not None and (lone.impressions, lone.clicks, lone.accepted) == (3, 1, 1)
    assert lone.ctr is None and lone.ctr_low is None and lone.acceptance == pytest.approx(1 / 3)
    assert [row.model_version for row in r.totals] == ["v1", UNATTRIBUTED]  # unattributed last
    assert not lone.attributed


def test_buckets_and_period() -> None:
    rows = [
        ev(10, "impression", "a", "b", "r1"),
        ev(HOUR + 10, "impression", "a", "c", "r2", version="v2"),
        ev(HOUR + 20, "impression", "a", "d", "r2", version="v2"),
        ev(2 * HOUR + 5, "click", "a", "b", "r1"),  # counted with its impression, in the first hour
        ev(3 * HOUR, "click", "q", "w"),  # unattributed clicks: by their own time
    ]
    r = report(rows, bucket_s=HOUR)
    got = [(row.bucket_start, row.model_version, row.impressions, row.clicks) for row in r.series]
    start = datetime.fromtimestamp(T0, UTC)
    assert got == [
        (start, "v1", 1, 1),
        (datetime.fromtimestamp(T0 + HOUR, UTC), "v2", 2, 0),
        (datetime.fromtimestamp(T0 + 3 * HOUR, UTC), UNATTRIBUTED, 0, 1),
    ]
    assert report(rows, bucket_s=DAY).series[0].bucket_start == start
    later = report(rows, since=T0 + HOUR, until=T0 + 2 * HOUR)
    assert [(row.model_version, row.impressions) for row in later.totals] == [("v2", 2)]
    assert r.records("series")[0]["bucket_start"] == start.isoformat()


def test_wilson_interval() -> None:
    low, high = wilson(50, 100) or (0, 0)
    assert (round(low, 4), round(high, 4)) == (0.4038, 0.5962)  # the textbook value
    low, high = wilson(0, 20) or (1, 1)
    assert low == 0.0 and 0.15 < high < 0.17
    assert wilson(0, 0) is None
    wide, narrow = wilson(5, 10, 0.99), wilson(5, 10, 0.8)
    assert wide and narrow and wide[0] < narrow[0] < 0.5 < narrow[1] < wide[1]


def test_event_log_of_a_home_reads_the_same(tmp_path: Path) -> None:
    rows = [
        ev(0, "impression", "a", "b", "r1"),
        ev(1, "click", "a", "b", "r1"),
        ev(DAY * 2, "impression", "a", "c", "r2", version="v2"),
        ev(DAY * 3, "connect", "c", "a"),
        ev(1, "signup", "z", "z"),
    ]
    log_rows = [{**r, "actor_idx": 0, "target_idx": 1} for r in rows]
    writer = EventLogWriter(tmp_path, "t")
    writer.append(pa.Table.from_pylist(log_rows, schema=LOG_SCHEMA))
    writer.commit()
    from_log = ctr_report(tmp_path)
    assert from_log == report(rows)
    assert counts(from_log, "v1") == (1, 1, 0) and counts(from_log, "v2") == (1, 0, 1)
    empty = ctr_report(tmp_path / "nothing")
    assert empty.totals == empty.series == [] and empty.unmatched_clicks == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"bucket_s": 0}, "bucket_s"),
        ({"window_s": -1}, "window_s"),
        ({"window_s": math.inf}, "window_s"),
        ({"confidence": 1.0}, "confidence"),
    ],
)
def test_bad_parameters_are_named(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput, match=field):
        report([], **kwargs)


def test_missing_columns_are_named() -> None:
    with pytest.raises(InvalidInput, match="props"):
        ctr_report(
            pa.table({"event_id": ["e"], "ts": [1.0], "type": ["click"], "actor": ["a"], "target": ["b"]})
        )
