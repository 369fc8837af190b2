"""Drift profiles: what the data and the model's scores looked like over one window of events.

A :class:`Profile` describes the window ``(end - window, end]`` of an event stream (``end``: its newest
event) — as of the end of training it is the **reference** saved with a model version
(``<version dir>/profile.json``); ``pymk monitor`` builds the **current** one of a recent window with the
same function, :func:`build_profile`, and compares the two (:mod:`pymk.monitoring.drift`).

What it holds (names as the drift report shows them):

- ``new_user`` (categorical ``new``/``returning``): per user active in the window (the actor of at least
  one event in it), whether they first appeared (as actor or target of any event) inside the window;
- ``event_type`` (categorical): events in the window by type;
- ``activity`` (numeric): events acted per active user per day of the window;
- ``degree`` (numeric): each active user's number of distinct interaction partners (DESIGN §3:
  connect, follow, message, like, either direction) up to the window end;
- ``feature:<name>`` (numeric, with a model): the ranker's pair features of the candidates of a random
  sample of the active users (at most ``score_users``), as of the window end;
- ``score`` (numeric, with a model): the ranker scores of those users' top-``k`` candidates — the scores
  the served lists are cut from.

**How distributions are stored — a capped uniform sample, not histograms.** Each numeric distribution
keeps at most ``sample_size`` values drawn uniformly without replacement (float32 precision): the
two-sample KS test and the Wasserstein distance need the sample itself (KS's p-value also needs its
size, and Evidently picks the test by it), PSI bins are cut at the reference's quantiles at compare time,
and a sample supports every statistic without choosing bins in advance. A few thousand values per
feature keep ``profile.json`` under 1 MB (0.7 MB for CollegeMsg's 49 distributions at the default cap of
2,000) while the sampling error of the statistics stays small next to their thresholds. The feature
sample keeps whole rows (the same pairs for every feature). Categorical distributions are exact counts.
Data without times (snap-static) have no window: the whole log is the window and ``new_user`` and
``activity`` are left out. Feedback events (``impression``, ``click``: :data:`FEEDBACK_TYPES`) are left
out of every distribution (:meth:`EventData.from_table`): they record what was served, not what users do
on the network, and their volume follows the traffic served, so counting them would flag drift whenever
feedback starts flowing (measured in ``pymk demo``: a day of feedback on 394 lists made every ``data``
feature drift).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pymk.errors import PymkError
from pymk.events.schema import INTERACTION_TYPES
from pymk.features.rows import Rows
from pymk.io.eventlog import read_event_log
from pymk.monitoring.drift import FEATURE_PREFIX, SCORE

if TYPE_CHECKING:
    from pymk.models.pipeline import PymkPipeline

PROFILE_FILE = "profile.json"
FORMAT_VERSION = 1
_INTERACTIONS = frozenset(t.value for t in INTERACTION_TYPES)
#: Event types about served lists, not network activity: not profiled (see the module doc).
FEEDBACK_TYPES = ("click", "impression")


class ProfileError(PymkError):
    """A profile file is missing, unreadable or of another format version."""

    http_status = 404
    grpc_code = "NOT_FOUND"
    exit_code = 2


@dataclass(frozen=True)
class EventData:
    """Events as columns: ``ts`` float64 UNIX seconds (NaN: no time), ``type`` int codes into
    ``type_names``, ``actor`` int64 user indices, ``target`` int64 (``-1``: none); any row order."""

    ts: np.ndarray
    type: np.ndarray
    type_names: tuple[str, ...]
    actor: np.ndarray
    target: np.ndarray

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    @classmethod
    def from_table(cls, table: pa.Table) -> EventData:
        """From an event-log table (columns ``ts``, ``type``, ``actor_idx``, ``target_idx``), without its
        feedback events (:data:`FEEDBACK_TYPES`)."""
        table = table.filter(pc.invert(pc.is_in(table.column("type"), pa.array(FEEDBACK_TYPES, pa.string()))))
        types = pc.dictionary_encode(table.column("type")).combine_chunks()
        return cls(
            ts=pc.fill_null(table.column("ts"), np.nan).to_numpy().astype(np.float64),
            type=types.indices.to_numpy(zero_copy_only=False).astype(np.int64),
            type_names=tuple(str(x) for x in types.dictionary.to_pylist()),
            actor=table.column("actor_idx").to_numpy().astype(np.int64),
            target=pc.fill_null(table.column("target_idx"), -1).to_numpy().astype(np.int64),
        )

    @classmethod
    def from_home(cls, home: Path) -> EventData:
        """Every event of ``home``'s offline event log (:mod:`pymk.io.eventlog`)."""
        return cls.from_table(read_event_log(home, ["ts", "type", "actor_idx", "target_idx"]))

    @property
    def timed(self) -> bool:
        """True when some event has a time (then events without one are ignored)."""
        return bool(np.isfinite(self.ts).any())

    def interaction_mask(self) -> np.ndarray:
        """bool: interaction events (DESIGN §3) between two distinct users."""
        codes = [i for i, name in enumerate(self.type_names) if name in _INTERACTIONS]
        mask: np.ndarray = np.isin(self.type, codes) & (self.target >= 0) & (self.target != self.actor)
        return mask

    def rows(self, n_users: int, end: float | None = None) -> Rows:
        """The interactions up to ``end`` (inclusive; all when None) as model :class:`Rows`, by time."""
        keep = self.interaction_mask()
        if end is not None:
            keep &= self.ts <= end
        order = np.argsort(self.ts[keep], kind="stable")
        return Rows(
            self.actor[keep][order].astype(np.int32),
            self.target[keep][order].astype(np.int32),
            self.ts[keep][order],
            n_users,
        )


@dataclass(frozen=True)
class Window:
    """The window a profile covers: ``(start, end]`` UNIX seconds (None for untimed data)."""

    start: float | None
    end: float | None
    seconds: float | None
    events: int
    active_users: int

    def iso(self) -> dict[str, Any]:
        """``{"start": iso, "end": iso, "events": n}`` (the drift report's ``window``)."""
        return {"start": _iso(self.start), "end": _iso(self.end), "events": self.events}


@dataclass(frozen=True)
class Profile:
    """Distributions of one window (see the module docstring): ``numeric`` name -> float32 sample,
    ``categorical`` name -> counts per category."""

    window: Window
    numeric: dict[str, np.ndarray]
    categorical: dict[str, dict[str, int]]
    model_version: str | None = None
    built_at: str = field(default_factory=lambda: _iso(datetime.now(UTC).timestamp()) or "")
    sample_size: int = 2000

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the ``profile.json`` body)."""
        return {
            "format_version": FORMAT_VERSION,
            "model_version": self.model_version,
            "built_at": self.built_at,
            "sample_size": self.sample_size,
            "window": {
                "start": self.window.start,
                "end": self.window.end,
                "seconds": self.window.seconds,
                "events": self.window.events,
                "active_users": self.window.active_users,
            },
            # Seven significant digits: float32's precision, and half the text of a full float repr.
            "numeric": {k: [float(f"{x:.7g}") for x in v.tolist()] for k, v in self.numeric.items()},
            "categorical": self.categorical,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "profile") -> Profile:
        """Inverse of :meth:`to_dict`; :class:`ProfileError` naming ``where`` when it is not one."""
        try:
            if data["format_version"] != FORMAT_VERSION:
                raise ProfileError(
                    f"{where} has format_version {data['format_version']!r}, this pymk reads "
                    f"{FORMAT_VERSION}: retrain with `pymk train`"
                )
            w = data["window"]
            return cls(
                window=Window(w["start"], w["end"], w["seconds"], int(w["events"]), int(w["active_users"])),
                numeric={str(k): np.asarray(v, dtype=np.float32) for k, v in data["numeric"].items()},
                categorical={
                    str(k): {str(c): int(n) for c, n in v.items()} for k, v in data["categorical"].items()
                },
                model_version=data.get("model_version"),
                built_at=str(data["built_at"]),
                sample_size=int(data["sample_size"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProfileError(f"{where} is not a drift profile: {exc!r}") from exc

    def save(self, path: Path) -> Path:
        """Write :meth:`to_dict` as JSON to ``path`` (a directory: its ``profile.json``); returns the file."""
        if path.is_dir():
            path = path / PROFILE_FILE
        path.write_text(json.dumps(self.to_dict(), separators=(",", ":")) + "\n")
        return path

    @classmethod
    def load(cls, path: Path) -> Profile:
        """Read a profile file (or a version directory's ``profile.json``); :class:`ProfileError` if none."""
        if path.is_dir():
            path = path / PROFILE_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ProfileError(
                f"no drift profile at {path}: the model version predates profiles; retrain with `pymk train`"
            ) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProfileError(f"cannot read drift profile {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ProfileError(f"{path} is not a drift profile")
        return cls.from_dict(data, str(path))


def build_profile(
    data: EventData,
    *,
    window_s: float,
    pipeline: PymkPipeline | None = None,
    end: float | None = None,
    sample_size: int = 2000,
    score_users: int = 300,
    k: int = 20,
    seed: int = 0,
    model_version: str | None = None,
) -> Profile:
    """The profile of the ``window_s`` seconds of ``data`` ending at ``end`` (default: its newest event).

    ``pipeline``: a fitted model whose scoring snapshot is as of the window end (for the reference: the
    pipeline just fitted on the data; for the current window: the loaded model restored on the current
    rows); without one the ``feature:*`` and ``score`` distributions are left out. ``seed`` fixes the
    samples. User indices of ``data`` must be the pipeline's.
    """
    rng = np.random.default_rng(seed)
    timed = data.timed
    if timed:
        newest = float(np.nanmax(data.ts))
        end = newest if end is None else float(end)
        start: float | None = end - window_s
        upto = data.ts <= end
        inside = upto & (data.ts > end - window_s)
    else:
        end = start = None
        upto = inside = np.ones(len(data), dtype=bool)
    actors = data.actor[inside]
    active, acted = np.unique(actors, return_counts=True)
    names = np.asarray(data.type_names, dtype=object)
    kinds, counts = np.unique(data.type[inside], return_counts=True)
    categorical = {"event_type": {str(names[t]): int(c) for t, c in zip(kinds, counts, strict=True)}}
    numeric: dict[str, np.ndarray] = {}
    if timed and start is not None:
        first = _first_seen(data, upto)
        is_new = first[active] > start
        categorical["new_user"] = {"new": int(is_new.sum()), "returning": int((~is_new).sum())}
        numeric["activity"] = acted / (window_s / 86_400.0)
    numeric["degree"] = _degree(data, upto)[active]
    if pipeline is not None:
        numeric.update(_model_distributions(pipeline, active, rng, sample_size, score_users, k))
    numeric = {name: _sample(values, sample_size, rng) for name, values in numeric.items()}
    window = Window(start, end, window_s if timed else None, int(inside.sum()), int(active.shape[0]))
    return Profile(window, numeric, categorical, model_version=model_version, sample_size=sample_size)


def _first_seen(data: EventData, upto: np.ndarray) -> np.ndarray:
    """float64 per user index: the time of their first event (as actor or target) among ``upto``."""
    n = int(max(data.actor.max(initial=-1), data.target.max(initial=-1))) + 1
    first = np.full(n, np.inf)
    ts = data.ts[upto]
    np.minimum.at(first, data.actor[upto], ts)
    has = data.target[upto] >= 0
    np.minimum.at(first, data.target[upto][has], ts[has])
    return first


def _degree(data: EventData, upto: np.ndarray) -> np.ndarray:
    """int64 per user index: distinct interaction partners among the events ``upto``."""
    n = int(max(data.actor.max(initial=-1), data.target.max(initial=-1))) + 1
    keep = upto & data.interaction_mask()
    a, b = data.actor[keep], data.target[keep]
    pairs = np.unique(np.minimum(a, b) * n + np.maximum(a, b))
    return np.bincount(pairs // n, minlength=n) + np.bincount(pairs % n, minlength=n)


def _model_distributions(
    pipeline: PymkPipeline, active: np.ndarray, rng: np.random.Generator, cap: int, score_users: int, k: int
) -> dict[str, np.ndarray]:
    """``feature:*`` rows and top-``k`` ``score`` of up to ``score_users`` random active users known to
    the pipeline's snapshot (users with no interaction yet have no candidates)."""
    featurizer = pipeline.featurizer
    if featurizer is None:
        raise ValueError("the pipeline is not fitted")
    known = featurizer.snap.known
    users = active[(active < known.shape[0])]
    users = users[known[users]]
    if users.shape[0] > score_users:
        users = np.sort(rng.choice(users, score_users, replace=False))
    names = list(pipeline.rankers[0].feature_names)
    features, scores = [], []
    for pb in featurizer.batches(users.astype(np.int64), pipeline.config.batch):
        if not pb.rows.shape[0]:
            continue
        raw = pipeline.rank(pb)
        order = np.lexsort((-raw, pb.rows))  # per user, best first
        starts = np.searchsorted(pb.rows[order], np.arange(pb.users.shape[0]))
        rank = np.arange(order.shape[0]) - starts[pb.rows[order]]
        scores.append(raw[order][rank < k])
        features.append(pb.features[rng.choice(pb.rows.shape[0], min(cap, pb.rows.shape[0]), replace=False)])
    if not scores:
        return {SCORE: np.empty(0)} | {FEATURE_PREFIX + f: np.empty(0) for f in names}
    rows = np.concatenate(features)
    rows = rows[_pick(rows.shape[0], cap, rng)]
    out = {FEATURE_PREFIX + name: rows[:, j] for j, name in enumerate(names)}
    out[SCORE] = np.concatenate(scores)
    return out


def _pick(n: int, cap: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(n, cap, replace=False)) if n > cap else np.arange(n)


def _sample(values: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    sample: np.ndarray = values[_pick(values.shape[0], cap, rng)].astype(np.float32)
    return sample


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
