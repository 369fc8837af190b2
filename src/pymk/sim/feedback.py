"""Simulated feedback on served lists: impressions, clicks and later connects, from a known ground truth.

Given the lists a server returned (:class:`ServedList`: viewer, request id, model version, source, items,
time) and the ground truth of which pairs truly connect later (:func:`future_pairs` reads it from a
simulated stream), :func:`simulate_feedback` emits what users would do with them:

- one ``impression`` per shown item (at the list's time, plus ``position`` milliseconds); with
  probability ``repeat_share`` the same item is shown again in the same response (a re-render: the
  same request id, a new event id, ``repeat_delay_s`` later);
- a ``click`` with probability ``p_click_true`` when the pair is a true future connection, else
  ``p_click_false`` (``click_delay_s`` after the impression);
- a ``connect`` with probability ``p_connect_true``/``p_connect_false`` likewise, after an exponential
  delay of mean ``connect_delay_s`` (either user may send it); a pair connects at most once over all the
  lists (the first draw wins);
- with probability ``unattributed_share`` a whole list's feedback carries no attribution props (an old
  client).

Events are DESIGN §2 dicts (attribution props of :data:`~pymk.events.schema.ATTRIBUTION_PROPS`),
deterministic for a given ``seed`` and list order, as an Arrow table the CTR report reads
(:func:`pymk.monitoring.ctr.ctr_report`) or as JSON objects to POST to ``/v1/events``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from pymk.errors import InvalidInput

DAY = 86_400.0
#: Columns of :func:`simulate_feedback`'s table (those of the offline event log, minus the int ids).
FEEDBACK_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("ts", pa.float64()),
        ("type", pa.string()),
        ("actor", pa.string()),
        ("target", pa.string()),
        ("props", pa.string()),
    ]
)
Pair = frozenset[str]


@dataclass(frozen=True, slots=True)
class ServedList:
    """One list a viewer was shown: ``items`` in rank order, served at ``ts`` (UNIX seconds)."""

    user_id: str
    request_id: str
    model_version: str
    source: str
    items: tuple[str, ...]
    ts: float

    @classmethod
    def from_response(cls, body: Mapping[str, Any], ts: float) -> ServedList:
        """A list from the JSON of ``GET /v1/users/{id}/recommendations`` (or one batch result)."""
        return cls(
            str(body["user_id"]),
            str(body["request_id"]),
            str(body["model_version"]),
            str(body["source"]),
            tuple(str(i["user_id"]) for i in body["items"]),
            ts,
        )


@dataclass(frozen=True, slots=True)
class FeedbackConfig:
    """Behaviour probabilities and delays (seconds) of :func:`simulate_feedback`."""

    p_click_true: float = 0.30
    p_click_false: float = 0.03
    p_connect_true: float = 0.40
    p_connect_false: float = 0.01
    repeat_share: float = 0.10
    unattributed_share: float = 0.0
    click_delay_s: float = 20.0
    repeat_delay_s: float = 5.0
    connect_delay_s: float = 2 * DAY
    seed: int = 0

    def __post_init__(self) -> None:
        for name in (
            "p_click_true",
            "p_click_false",
            "p_connect_true",
            "p_connect_false",
            "repeat_share",
            "unattributed_share",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InvalidInput(f"{name} must be a probability in [0, 1], got {value}")
        for name in ("click_delay_s", "repeat_delay_s", "connect_delay_s"):
            if not getattr(self, name) >= 0:
                raise InvalidInput(f"{name} must be >= 0 seconds, got {getattr(self, name)}")


def future_pairs(events: pa.Table, since: float, until: float | None = None) -> set[Pair]:
    """The unordered pairs with a ``connect`` in ``[since, until)`` in ``events`` (a simulated stream's
    table: ``ts``, ``type``, ``actor``, ``target``): the ground truth a good model should rank first."""
    ts = pc.cast(events.column("ts"), pa.float64())
    keep = pc.and_(pc.equal(events.column("type"), "connect"), pc.greater_equal(ts, since))
    if until is not None:
        keep = pc.and_(keep, pc.less(ts, until))
    rows = events.filter(keep)
    return {
        frozenset((a, b))
        for a, b in zip(rows.column("actor").to_pylist(), rows.column("target").to_pylist(), strict=True)
        if a is not None and b is not None
    }


def simulate_feedback(
    lists: Sequence[ServedList], truth: Collection[Pair], config: FeedbackConfig | None = None
) -> pa.Table:
    """The feedback events on ``lists`` (see the module doc), ordered by ``ts``, as a
    :data:`FEEDBACK_SCHEMA` table; event ids are ``fb-<seed>-<n>``."""
    cfg = config if config is not None else FeedbackConfig()
    rng = np.random.default_rng(cfg.seed)
    rows: list[tuple[float, str, str, str, str | None]] = []  # ts, type, actor, target, props
    connected: set[Pair] = set()
    for served in sorted(lists, key=lambda s: s.ts):
        n = len(served.items)
        if n == 0:
            continue
        attributed = rng.random() >= cfg.unattributed_share
        true = np.array([frozenset((served.user_id, i)) in truth for i in served.items], dtype=bool)
        click = rng.random(n) < np.where(true, cfg.p_click_true, cfg.p_click_false)
        connect = rng.random(n) < np.where(true, cfg.p_connect_true, cfg.p_connect_false)
        repeat = rng.random(n) < cfg.repeat_share
        delay = rng.exponential(cfg.connect_delay_s, n) if cfg.connect_delay_s > 0 else np.zeros(n)
        flip = rng.random(n) < 0.5
        for pos, item in enumerate(served.items):
            props = _props(served, pos) if attributed else None
            shown = served.ts + pos / 1000.0
            rows.append((shown, "impression", served.user_id, item, props))
            if repeat[pos]:
                rows.append((shown + cfg.repeat_delay_s, "impression", served.user_id, item, props))
            if click[pos]:
                rows.append((shown + cfg.click_delay_s, "click", served.user_id, item, props))
            pair = frozenset((served.user_id, item))
            if connect[pos] and pair not in connected:
                connected.add(pair)
                actor, target = (item, served.user_id) if flip[pos] else (served.user_id, item)
                rows.append((shown + float(delay[pos]), "connect", actor, target, None))
    rows.sort(key=lambda r: r[0])
    columns = list(zip(*rows, strict=True)) if rows else [(), (), (), (), ()]
    return pa.Table.from_arrays(
        [
            pa.array([f"fb-{cfg.seed}-{i}" for i in range(len(rows))], pa.string()),
            pa.array(columns[0], pa.float64()),
            pa.array(columns[1], pa.string()),
            pa.array(columns[2], pa.string()),
            pa.array(columns[3], pa.string()),
            pa.array(columns[4], pa.string()),
        ],
        schema=FEEDBACK_SCHEMA,
    )


def _props(served: ServedList, position: int) -> str:
    return orjson.dumps(
        {
            "request_id": served.request_id,
            "model_version": served.model_version,
            "source": served.source,
            "position": position,
        }
    ).decode()


def as_events(table: pa.Table) -> list[dict[str, Any]]:
    """The rows of a :data:`FEEDBACK_SCHEMA` table as DESIGN §2 event objects (``props`` decoded), ready
    to POST to ``/v1/events``."""
    out = []
    for row in table.to_pylist():
        props = row["props"]
        out.append({**row, "props": orjson.loads(props) if props is not None else {}})
    return out
