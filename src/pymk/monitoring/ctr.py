"""Business metrics of served lists: impressions, clicks, CTR and acceptance per model version and source.

Feedback events (DESIGN §2 ``impression``/``click``: actor = the viewer, target = the recommended user)
carry the list they are about in their props (:data:`~pymk.events.schema.ATTRIBUTION_PROPS`: the
``request_id`` of the response, its ``model_version`` and ``source``). :func:`ctr_report` reads them
with DuckDB from the offline event log of a ``PYMK_HOME`` or from an Arrow table of events, and counts:

- **impressions**: distinct ``(request_id, viewer, target)``: the same item shown twice in one response
  (a re-render, a replayed event) is one impression, counted in the bucket of its first showing;
- **clicks**: impressions with at least one click of the same ``(request_id, viewer, target)``, so a
  click counts once and in its impression's bucket; CTR = clicks / impressions, with a Wilson score
  interval. Attributed clicks whose impression is not in the data are not in any CTR; they are
  counted in :attr:`CtrReport.unmatched_clicks`;
- **accepted**: impressions that a ``connect`` between the same two users (either direction) followed
  within ``window_s`` (default 7 days; ``0 <= connect.ts - impression.ts <= window_s``), each connect
  credited to the latest impression of the pair before it (last touch, either viewer; a repeated
  impression touches at each showing; two showings at the same instant: the larger
  ``(request_id, viewer, target)`` wins); acceptance = accepted / impressions, with a Wilson interval.

Feedback without attribution props is counted apart, as version and source :data:`UNATTRIBUTED`: each
such impression event is its own impression, it can win a connect by last touch like any other, and
``clicks`` there counts unattributed click events (by the click's own time) — they cannot be joined to
an impression, so that row has no CTR.

Times are UNIX seconds, UTC; buckets are ``[k * bucket_s, (k + 1) * bucket_s)``; ``since``/``until``
select impressions by their first showing (connects and clicks are read from all the data, so an
impression near ``until`` still gets its later connect). Events are de-duplicated by ``event_id``; events
without a time are ignored.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from statistics import NormalDist
from typing import Any

import duckdb
import pyarrow as pa

from pymk.errors import InvalidInput
from pymk.io.eventlog import LOG_SCHEMA, event_log_glob, log_dir

HOUR = 3_600.0
DAY = 86_400.0
DEFAULT_WINDOW_S = 7 * DAY
#: Model version and source of feedback without attribution props.
UNATTRIBUTED = "(unattributed)"
#: Source of a row that adds up every source of its model version (:attr:`CtrReport.versions`).
ALL_SOURCES = "(all)"
COLUMNS = ("event_id", "ts", "type", "actor", "target", "props")


@dataclass(frozen=True, slots=True)
class CtrRow:
    """Counts of one model version and source, over one time bucket (``bucket_start``, UTC) or the whole
    period (``bucket_start`` None). Rates are None where undefined (no impressions; CTR of
    :data:`UNATTRIBUTED`); ``*_low``/``*_high`` bound them by a Wilson score interval."""

    bucket_start: datetime | None
    model_version: str
    source: str
    impressions: int
    clicks: int
    accepted: int
    ctr: float | None
    ctr_low: float | None
    ctr_high: float | None
    acceptance: float | None
    acceptance_low: float | None
    acceptance_high: float | None

    @property
    def attributed(self) -> bool:
        """Whether the row is about served lists (not the unattributed feedback)."""
        return self.model_version != UNATTRIBUTED


@dataclass(frozen=True, slots=True)
class CtrReport:
    """What :func:`ctr_report` computed.

    ``totals``: one row per (model version, source) over the whole period; ``versions``: one row per
    model version over every source (source :data:`ALL_SOURCES`); ``series``: one row per (bucket,
    version, source) that has impressions or unattributed clicks. Each list is sorted by bucket, then
    version and source, :data:`UNATTRIBUTED` last.
    """

    totals: list[CtrRow]
    versions: list[CtrRow]
    series: list[CtrRow]
    unmatched_clicks: int
    bucket_s: float
    window_s: float
    confidence: float
    since: float | None = None
    until: float | None = None
    notes: list[str] = field(default_factory=list)

    def total(self, model_version: str, source: str = ALL_SOURCES) -> CtrRow | None:
        """The whole-period row of ``model_version`` (and ``source``; default: all sources), or None."""
        rows = self.versions if source == ALL_SOURCES else self.totals
        return next((r for r in rows if r.model_version == model_version and r.source == source), None)

    def records(self, which: str = "series") -> list[dict[str, Any]]:
        """``totals``, ``versions`` or ``series`` as JSON-ready dicts (``bucket_start`` RFC 3339)."""
        rows: list[CtrRow] = getattr(self, which)
        out = []
        for row in rows:
            record = asdict(row)
            record["bucket_start"] = None if row.bucket_start is None else row.bucket_start.isoformat()
            out.append(record)
        return out


def wilson(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """The Wilson score interval of a binomial proportion, or None for zero trials."""
    if trials <= 0:
        return None
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    p = successes / trials
    denom = 1.0 + z * z / trials
    centre = (p + z * z / (2.0 * trials)) / denom
    half = z * math.sqrt(p * (1.0 - p) / trials + z * z / (4.0 * trials * trials)) / denom
    # Exact at the ends (the formula leaves rounding dust there).
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


def ctr_report(
    events: pa.Table | Path,
    *,
    bucket_s: float = DAY,
    window_s: float = DEFAULT_WINDOW_S,
    since: float | None = None,
    until: float | None = None,
    confidence: float = 0.95,
) -> CtrReport:
    """Impressions, clicks, CTR and acceptance per model version and source (see the module doc).

    ``events``: a ``PYMK_HOME`` (its offline event log, read with DuckDB) or an Arrow table with the
    columns ``event_id, ts, type, actor, target, props`` (``props`` JSON object text or null; the event
    log's and the simulator's tables qualify). Raises :class:`~pymk.errors.InvalidInput` for a
    non-positive ``bucket_s``, a negative ``window_s``, a ``confidence`` outside (0, 1) or missing
    columns.
    """
    if not bucket_s > 0:
        raise InvalidInput(f"bucket_s must be > 0 seconds, got {bucket_s}")
    if not (window_s >= 0 and math.isfinite(window_s)):
        raise InvalidInput(f"window_s must be a finite number of seconds >= 0, got {window_s}")
    if not 0.0 < confidence < 1.0:
        raise InvalidInput(f"confidence must be in (0, 1), got {confidence}")
    con = duckdb.connect()
    try:
        _load(con, events)
        for statement in _PREPARE.split(";\n"):
            if statement.strip():
                con.execute(statement, {"window": float(window_s)} if "$window" in statement else None)
        period = {
            "since": -math.inf if since is None else float(since),
            "until": math.inf if until is None else float(until),
        }
        bucketed = _AGGREGATE.format(
            bucket="floor(first_ts / $bucket) * $bucket", bucket_click="floor(ts / $bucket) * $bucket"
        )
        series = con.execute(bucketed, {**period, "bucket": float(bucket_s)}).fetchall()
        # One constant bucket (not NULL: the full join on it must match the unattributed clicks).
        whole = _AGGREGATE.format(bucket="0.0::DOUBLE", bucket_click="0.0::DOUBLE")
        totals = con.execute(whole, period).fetchall()
        unmatched = con.execute(_UNMATCHED, period).fetchone()
    finally:
        con.close()
    rows = [_row(r, confidence, bucketed=True) for r in series]
    total_rows = [_row(r, confidence, bucketed=False) for r in totals]
    return CtrReport(
        totals=total_rows,
        versions=_by_version(total_rows, confidence),
        series=rows,
        unmatched_clicks=int(unmatched[0]) if unmatched else 0,
        bucket_s=float(bucket_s),
        window_s=float(window_s),
        confidence=confidence,
        since=since,
        until=until,
    )


def _load(con: duckdb.DuckDBPyConnection, events: pa.Table | Path) -> None:
    """Make ``raw_events`` the events to read: the event log of a home, or an Arrow table."""
    if isinstance(events, Path):
        if any(log_dir(events).glob("date=*/*.parquet")):
            glob = event_log_glob(events).replace("'", "''")
            con.execute(
                "CREATE VIEW raw_events AS SELECT event_id, ts, type, actor, target, props "
                f"FROM read_parquet('{glob}', hive_partitioning = true)"
            )
            return
        events = LOG_SCHEMA.empty_table()
    missing = [c for c in COLUMNS if c not in events.column_names]
    if missing:
        raise InvalidInput(f"events table lacks column(s) {', '.join(missing)}; needs {', '.join(COLUMNS)}")
    con.register("raw_events", events.select(list(COLUMNS)))


_PREPARE = """
CREATE TEMP TABLE ev AS
SELECT event_id, CAST(ts AS DOUBLE) AS ts, type, actor, target,
       CASE WHEN json_valid(props) THEN props END AS props
FROM raw_events
WHERE ts IS NOT NULL AND target IS NOT NULL AND type IN ('impression', 'click', 'connect')
QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY ts) = 1;

CREATE TEMP TABLE fb AS
SELECT *, request_id IS NOT NULL AND model_version IS NOT NULL AND source IS NOT NULL AS attributed
FROM (
    SELECT event_id, ts, type, actor, target,
           json_extract_string(props, '$.request_id') AS request_id,
           json_extract_string(props, '$.model_version') AS model_version,
           json_extract_string(props, '$.source') AS source
    FROM ev WHERE type IN ('impression', 'click')
);

-- Each impression event with the id of its impression: (request, viewer, target), or itself when
-- unattributed.
CREATE TEMP TABLE shown AS
SELECT ts, actor, target, model_version, source, attributed, req,
       dense_rank() OVER (ORDER BY req, actor, target, lone) AS imp_id
FROM (
    SELECT *, CASE WHEN attributed THEN request_id END AS req,
           CASE WHEN attributed THEN NULL ELSE event_id END AS lone
    FROM fb WHERE type = 'impression'
);

CREATE TEMP TABLE imp AS
SELECT imp_id, any_value(req) AS req, any_value(actor) AS actor, any_value(target) AS target,
       min(ts) AS first_ts, bool_or(attributed) AS attributed,
       CASE WHEN bool_or(attributed) THEN arg_min(model_version, ts) ELSE '(unattributed)' END
           AS model_version,
       CASE WHEN bool_or(attributed) THEN arg_min(source, ts) ELSE '(unattributed)' END AS source
FROM shown GROUP BY imp_id;

CREATE TEMP TABLE clicked AS
SELECT DISTINCT i.imp_id
FROM fb c JOIN imp i ON i.req = c.request_id AND i.actor = c.actor AND i.target = c.target
WHERE c.type = 'click' AND c.attributed;

-- Last touch: each connect goes to the latest showing of the pair (either viewer) within the window.
CREATE TEMP TABLE accepted AS
SELECT DISTINCT imp_id FROM (
    SELECT c.event_id, t.imp_id
    FROM (SELECT event_id, ts, least(actor, target) AS a, greatest(actor, target) AS b
          FROM ev WHERE type = 'connect') c
    JOIN (SELECT imp_id, ts, least(actor, target) AS a, greatest(actor, target) AS b FROM shown) t
      ON t.a = c.a AND t.b = c.b AND t.ts <= c.ts AND t.ts >= c.ts - $window
    QUALIFY row_number() OVER (PARTITION BY c.event_id ORDER BY t.ts DESC, t.imp_id DESC) = 1
);
"""

# One row per (bucket, version, source): impressions, clicks, accepted; unattributed clicks joined in.
_AGGREGATE = """
WITH per_imp AS (
    SELECT {bucket} AS bucket, i.model_version, i.source,
           c.imp_id IS NOT NULL AS was_clicked, a.imp_id IS NOT NULL AS was_accepted
    FROM imp i
    LEFT JOIN clicked c USING (imp_id)
    LEFT JOIN accepted a USING (imp_id)
    WHERE i.first_ts >= $since AND i.first_ts < $until
), counted AS (
    SELECT bucket, model_version, source, count(*) AS impressions,
           count(*) FILTER (WHERE was_clicked) AS clicks, count(*) FILTER (WHERE was_accepted) AS accepted
    FROM per_imp GROUP BY ALL
), lone_clicks AS (
    SELECT {bucket_click} AS bucket, '(unattributed)' AS model_version, '(unattributed)' AS source,
           count(*) AS clicks
    FROM fb WHERE type = 'click' AND NOT attributed AND ts >= $since AND ts < $until
    GROUP BY ALL HAVING count(*) > 0
)
SELECT bucket, model_version, source, coalesce(c.impressions, 0) AS impressions,
       coalesce(c.clicks, 0) + coalesce(l.clicks, 0) AS clicks, coalesce(c.accepted, 0) AS accepted
FROM counted c FULL OUTER JOIN lone_clicks l USING (bucket, model_version, source)
ORDER BY bucket, model_version = '(unattributed)', model_version, source
"""

_UNMATCHED = """
SELECT count(*) FROM (
    SELECT DISTINCT c.request_id, c.actor, c.target
    FROM fb c ANTI JOIN imp i ON i.req = c.request_id AND i.actor = c.actor AND i.target = c.target
    WHERE c.type = 'click' AND c.attributed AND c.ts >= $since AND c.ts < $until
)
"""


def _rates(successes: int, trials: int, confidence: float) -> tuple[float | None, float | None, float | None]:
    interval = wilson(successes, trials, confidence)
    if interval is None:
        return None, None, None
    return successes / trials, interval[0], interval[1]


def _make(
    bucket: datetime | None, version: str, source: str, imps: int, clicks: int, acc: int, conf: float
) -> CtrRow:
    ctr = _rates(clicks, imps, conf) if version != UNATTRIBUTED else (None, None, None)
    return CtrRow(bucket, version, source, imps, clicks, acc, *ctr, *_rates(acc, imps, conf))


def _row(raw: tuple[Any, ...], confidence: float, *, bucketed: bool) -> CtrRow:
    bucket, version, source, imps, clicks, acc = raw
    start = datetime.fromtimestamp(float(bucket), UTC) if bucketed else None
    return _make(start, str(version), str(source), int(imps), int(clicks), int(acc), confidence)


def _by_version(totals: list[CtrRow], confidence: float) -> list[CtrRow]:
    """``totals`` summed over the sources of each version (same order as ``totals``)."""
    sums: dict[str, list[int]] = {}
    for row in totals:
        acc = sums.setdefault(row.model_version, [0, 0, 0])
        acc[0] += row.impressions
        acc[1] += row.clicks
        acc[2] += row.accepted
    source = {v: ALL_SOURCES if v != UNATTRIBUTED else UNATTRIBUTED for v in sums}
    return [_make(None, v, source[v], i, c, a, confidence) for v, (i, c, a) in sums.items()]
