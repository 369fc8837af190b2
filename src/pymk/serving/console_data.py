"""What the operator console shows, as JSON-ready dicts (the page is :mod:`pymk.serving.console`).

Everything is read from the serving process itself — its service, loaded models, delta follower —
plus the registry and the drift report on disk; nothing here writes. Times are RFC 3339 UTC strings,
ages are seconds (float) measured when the answer was built.

The neighbourhood is the graph the user's model was trained on (its snapshot), plus the connects this
server has seen since (flagged ``fresh``): the graph the recommendations were computed from, not the
live graph of ``PYMK_HOME``, which the server does not hold.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from pymk.registry import ModelRegistry
from pymk.serving.exclusions import ExclusionSource
from pymk.serving.follow import DeltaFollower
from pymk.serving.fresh_fof import SnapshotGraph
from pymk.serving.lifecycle import LoadedModel, Routing
from pymk.serving.service import RecommendationService, render, rfc3339

DRIFT_REPORT = Path("monitoring") / "drift-latest.json"
"""Where ``pymk monitor`` leaves its latest report, under ``PYMK_HOME``."""
MAX_FRIENDS = 24
MAX_FOF = 8
_MAX_SCANNED = 2000  # friends whose rows are read for friends-of-friends (a hub's console stays fast)
_MAX_REPORT = 1 << 20


@dataclass(frozen=True)
class Snapshot:
    """The sources the console reads (see :class:`~pymk.serving.console.Console`)."""

    service: RecommendationService
    registry: ModelRegistry | None
    home: Path | None
    follower: DeltaFollower | None

    def routing(self) -> Routing:
        """The service's current routing (empty without models)."""
        return Routing() if self.service.models is None else self.service.models.routing


def _age(now: float, then: float) -> float:
    return round(now - then, 3)


def user_view(snap: Snapshot, user_id: str, k: int) -> dict[str, Any]:
    """``{"user_id", "recommendations", "routed_to", "neighbourhood"}``.

    ``recommendations`` is the body ``GET /v1/users/{user_id}/recommendations?k=`` answers (same call)
    plus ``age_s``; ``routed_to`` the model version the A/B routing gives the user (None without
    models); ``neighbourhood`` see :func:`neighbourhood`. Raises ``NotFound`` / ``InvalidInput`` as
    the API does.
    """
    found = snap.service.one(user_id, k)
    recommendations = orjson.loads(render(user_id, found))
    recommendations["age_s"] = _age(time.time(), found.computed_at)
    model = snap.routing().model_for(user_id)
    return {
        "user_id": user_id,
        "recommendations": recommendations,
        "routed_to": None if model is None else model.version,
        "neighbourhood": neighbourhood(user_id, model, snap.service.exclusions),
    }


def neighbourhood(
    user_id: str, model: LoadedModel | None, ex: ExclusionSource | None
) -> dict[str, Any] | None:
    """:func:`ego` in ``model``'s graph; None when the model holds no graph (lists only, a test double)."""
    graph = SnapshotGraph.of(model)
    if graph is None or model is None:
        return None
    return {"graph": model.version, "as_of": rfc3339(model.as_of), **ego(user_id, graph, ex)}


def ego(user_id: str, graph: SnapshotGraph, ex: ExclusionSource | None) -> dict[str, Any]:
    """The user's friends and strongest friends-of-friends in ``graph`` plus fresh connects in ``ex``.

    ``{"friends_total",
    "friends": [{"user_id", "degree", "fresh"}] (highest degree first, at most MAX_FRIENDS),
    "friends_of_friends": [{"user_id", "mutual", "via": [shown friends they share]}] (most mutual
    connections first, ties by id, at most MAX_FOF)}``. ``degree`` and ``mutual`` count the snapshot
    graph; deleted users (at load or since) are left out; a user the graph does not hold has only its
    fresh connects.
    """
    adj = graph.adjacency
    degree = np.diff(adj.indptr)
    me = graph.index.get(user_id)
    snap_friends = graph.row(me) if me is not None else np.empty(0, dtype=np.int64)
    snap_friends = snap_friends[~graph.forbidden.deleted[snap_friends]]
    fresh = [] if ex is None else [u for u in ex.connected(user_id, 0.0) if not ex.deleted(u)]
    ids = graph.user_ids
    friends: dict[str, dict[str, Any]] = {
        ids[j]: {"user_id": ids[j], "degree": int(degree[j]), "fresh": False}
        for j in snap_friends.tolist()
        if ex is None or not ex.deleted(ids[j])
    }
    for u in fresh:
        if u not in friends and u != user_id:
            j = graph.index.get(u)
            friends[u] = {"user_id": u, "degree": 0 if j is None else int(degree[j]), "fresh": True}
    ranked = sorted(friends.values(), key=lambda f: (-f["degree"], f["user_id"]))
    shown = ranked[:MAX_FRIENDS]
    return {
        "friends_total": len(ranked),
        "friends": shown,
        "friends_of_friends": _fof(graph, me, friends, {f["user_id"] for f in shown}, ex),
    }


def _fof(
    graph: SnapshotGraph,
    me: int | None,
    friends: dict[str, Any],
    shown: set[str],
    ex: ExclusionSource | None,
) -> list[dict[str, Any]]:
    """The MAX_FOF live non-friends sharing the most snapshot neighbours with ``friends`` (vectorised)."""
    index = [graph.index[u] for u in friends if u in graph.index][:_MAX_SCANNED]
    if not index:
        return []
    adj = graph.adjacency
    rows = adj[np.array(index, dtype=np.int64)]
    counts = np.bincount(rows.indices, minlength=adj.shape[0])
    counts[np.array(index, dtype=np.int64)] = 0
    if me is not None:
        counts[me] = 0
    counts[graph.forbidden.deleted] = 0
    hits = np.flatnonzero(counts)
    order = np.lexsort((np.array([graph.user_ids[i] for i in hits.tolist()], dtype=object), -counts[hits]))
    shown_index = {graph.index[u]: u for u in shown if u in graph.index}
    out = []
    for c in hits[order].tolist():
        user = graph.user_ids[c]
        if ex is not None and ex.deleted(user):
            continue
        via = sorted(shown_index[j] for j in graph.row(c).tolist() if j in shown_index)
        out.append({"user_id": user, "mutual": int(counts[c]), "via": via})
        if len(out) == MAX_FOF:
            break
    return out


def models(snap: Snapshot) -> dict[str, Any]:
    """``{"active", "loaded", "ab", "versions", "history"}``: the registry's active version, the versions
    this process serves (control first), the A/B split (None without a challenger configured), every
    registered version newest first with its manifest's metrics, and the last five promotes/rollbacks."""
    routing = snap.routing()
    loaded = routing.versions
    slot = snap.service.models
    ab: dict[str, Any] | None = None
    if slot is not None and slot.ab_version is not None:
        ab = {
            "control": None if routing.control is None else routing.control.version,
            "challenger": slot.ab_version,
            "share": slot.ab_share,
            "loaded": routing.challenger is not None and routing.challenger.version == slot.ab_version,
        }
    if snap.registry is None:
        return {"active": None, "loaded": loaded, "ab": ab, "versions": [], "history": []}
    active = snap.registry.active()
    active_version = None if active is None else active.version
    versions = []
    for version in reversed(snap.registry.list()):
        m = version.manifest
        versions.append(
            {
                "version": m.version,
                "created_at": m.created_at,
                "model_name": m.model_name,
                "model_kind": m.model_kind,
                "metrics": m.metrics,
                "data_fingerprint": m.data_fingerprint,
                "code": m.code.short(),
                "active": m.version == active_version,
                "loaded": m.version in loaded,
            }
        )
    history = [h.model_dump() for h in snap.registry.history()[-5:]]
    return {"active": active_version, "loaded": loaded, "ab": ab, "versions": versions, "history": history}


def drift_report(home: Path | None) -> dict[str, Any] | None:
    """The last ``pymk monitor`` report under ``home`` as written, plus ``age_s`` when its
    ``generated_at`` parses; None when there is none; ``{"error": ...}`` when it cannot be read."""
    if home is None:
        return None
    path = home / DRIFT_REPORT
    try:
        if path.stat().st_size > _MAX_REPORT:
            return {"error": f"{path.name} is over {_MAX_REPORT} bytes"}
        report = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError) as exc:
        return {"error": f"cannot read {path.name}: {exc}"}
    if not isinstance(report, dict):
        return {"error": f"{path.name} is not a JSON object"}
    generated = report.get("generated_at")
    if isinstance(generated, str):
        try:
            report["age_s"] = _age(
                time.time(), datetime.fromisoformat(generated.replace("Z", "+00:00")).timestamp()
            )
        except ValueError:
            pass
    return report


def health(snap: Snapshot) -> dict[str, Any]:
    """``{"now", "mode", "drift", "freshness": {"lists", "models", "follower", "late_realtime"}}``.

    ``lists``: the committed precomputed lists (version, users, k, committed_at, age_s) or None;
    ``models``: per loaded version its role and when its graph exclusions were read (``as_of``, age);
    ``follower``: the delta follower's applied sequence number against the online store's head
    (``behind`` deltas; ``head`` None when the store cannot be read), the last applied delta's event
    time and when it was applied — None when no shared online store is followed.
    """
    now = time.time()
    service = snap.service
    info = service.store.info()
    lists = None
    if info is not None:
        lists = {
            "model_version": info.model_version,
            "users": info.users,
            "k": info.k,
            "committed_at": rfc3339(info.committed_at),
            "age_s": _age(now, info.committed_at),
        }
    routing = snap.routing()
    loaded = [
        {"version": m.version, "role": role, "as_of": rfc3339(m.as_of), "age_s": _age(now, m.as_of)}
        for role, m in (("control", routing.control), ("challenger", routing.challenger))
        if m is not None
    ]
    return {
        "now": rfc3339(now),
        "mode": service.mode,
        "drift": drift_report(snap.home),
        "freshness": {
            "lists": lists,
            "models": loaded,
            "follower": None if snap.follower is None else _follower(snap.follower, now),
            "late_realtime": service.late,
        },
    }


def _follower(follower: DeltaFollower, now: float) -> dict[str, Any]:
    try:
        head: int | None = follower.online.last_seq()
    except Exception:  # the store is down: say so, the rest of the page still answers
        head = None
    last_ts, applied_at = follower.last_event_ts, follower.last_applied_at
    return {
        "seq": follower.seq,
        "head": head,
        "behind": None if head is None else max(head - follower.seq, 0),
        "applied": follower.applied,
        "last_event_at": None if last_ts is None else rfc3339(last_ts),
        "last_applied_at": None if applied_at is None else rfc3339(applied_at),
        "since_applied_s": None if applied_at is None else _age(now, applied_at),
    }
