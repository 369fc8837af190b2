"""The online feature store: fresh per-user and per-pair activity features and a log of graph changes.

What it keeps (all updated from validated events, by event time):

- per user: activity counts per event type and direction (``out``: as actor, ``in``: as target) over the
  sliding windows of :data:`WINDOWS`, the time of the last event it acted in, its degree (current
  connections) and whom it blocked;
- per unordered pair: counts per event type (all time) and the time of the last one;
- graph deltas (``connect``, ``disconnect``, ``block``, ``unblock``, ``delete_user``): an append-only log
  numbered 1, 2, 3, ... in order of application, so a server can pull "everything after seq S".

Contract shared by every implementation (``tests/online/test_online_contract.py``):

- ``apply`` is idempotent per ``event_id``: applying an event again, in the same batch or any later one
  within :data:`DEDUPE_HORIZON` of processing time (a redelivery after a crash), changes nothing; a
  batch cut short by a crash is completed by applying it again. Order between events is resolved by
  event time where it matters: a late ``connect`` older than a ``disconnect`` already applied does not
  reconnect the pair, a late ``block`` older than an ``unblock`` does not block again.
- A deleted user is purged (its features, pairs and adjacency entries in others), and later events that
  involve it are ignored. A connect between users where one blocked the other is applied as given:
  refusing it is the worker's (graph's) decision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from pymk.events.schema import Event

#: Window name → length in seconds. A window covers the ``length / BUCKET_SECONDS`` most recent
#: event-time buckets up to and including the bucket of ``now``.
WINDOWS: Mapping[str, int] = {"1h": 3600, "1d": 86_400, "7d": 7 * 86_400}
BUCKET_SECONDS = 3600
#: Buckets kept behind a user's newest one: the longest window.
KEEP_BUCKETS = max(WINDOWS.values()) // BUCKET_SECONDS
#: How long (processing time, seconds) applied event ids are remembered for idempotency.
DEDUPE_HORIZON = 7 * 86_400


@dataclass(frozen=True, slots=True)
class UserFeatures:
    """Online features of one user at ``now``. ``counts`` maps ``"<type>.<out|in>.<window>"`` to a
    positive count (zero counts are absent). ``last_active`` is UNIX seconds, ``None`` if never."""

    user: str
    degree: int
    last_active: float | None
    counts: dict[str, int]
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class PairFeatures:
    """Interactions of the unordered pair ``(a, b)``, ``a < b``: ``counts`` per event type (all
    time), ``last_ts`` of the latest (``None`` if none), ``connected`` now, ``blocked`` when either
    blocked the other (and has not unblocked since, by event time)."""

    a: str
    b: str
    counts: dict[str, int]
    last_ts: float | None
    connected: bool
    blocked: bool = False


@dataclass(frozen=True, slots=True)
class GraphDelta:
    """One entry of the graph-delta log; ``seq`` starts at 1 and increases by one per entry."""

    seq: int
    type: str
    actor: str
    target: str | None
    ts: float
    event_id: str


@runtime_checkable
class OnlineStore(Protocol):
    """Fresh features for serving, written by the stream worker."""

    def apply(self, events: Sequence[Event], *, now: float | None = None) -> None:
        """Apply validated ``events`` in order (see the module contract). ``now`` (processing time,
        default the clock) dates the remembered event ids. Raises ``ServiceUnavailable``."""
        ...

    def user_features(self, users: Sequence[str], now: float) -> list[UserFeatures]:
        """Features of each user (unknown users: zeros), windows ending at ``now`` (UNIX seconds)."""
        ...

    def pair_features(self, pairs: Sequence[tuple[str, str]]) -> list[PairFeatures]:
        """Features of each pair, given in either order; returned with ``a < b``."""
        ...

    def deltas_since(self, seq: int, limit: int = 10_000) -> list[GraphDelta]:
        """Up to ``limit`` deltas with sequence number > ``seq``, in increasing order."""
        ...

    def last_seq(self) -> int:
        """Sequence number of the latest delta (0 when none)."""
        ...

    def close(self) -> None: ...


def summarise_counts(fields: Mapping[str, int], now: float) -> dict[str, int]:
    """Window totals from a user's bucketed ``counts`` (fields ``"<type>.<dir>:<bucket>"``)."""
    current = int(now // BUCKET_SECONDS)
    totals: dict[str, int] = {}
    for name, value in fields.items():
        feature, bucket = name.rsplit(":", 1)
        age = current - int(bucket)
        if age < 0 or value <= 0:
            continue  # a bucket after `now` (reading the past) does not count
        for window, length in WINDOWS.items():
            if age < length // BUCKET_SECONDS:
                key = f"{feature}.{window}"
                totals[key] = totals.get(key, 0) + value
    return totals


def parse_ts(value: str | bytes | None) -> float | None:
    return None if value is None else float(value)


def edge_on(state: str | bytes | None) -> bool:
    """Whether an ``adj`` entry (``"1|ts"``/``"0|ts"``) says connected."""
    if state is None:
        return False
    return (state.decode() if isinstance(state, bytes) else state).startswith("1|")
