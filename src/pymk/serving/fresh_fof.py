"""Fresh friends-of-friends: after A connects to B, B's friends reach A's list on the next request.

A stored list holds the candidates of the graph it was computed from; the hybrid path removes what
changed since (:mod:`pymk.serving.exclusions`) and, with this module, also adds what a fresh connect
brings. For a user A with fresh neighbours N (connects the server observed after A's list was computed):

- **candidates**: the friends of each ``n`` in N (most recent connect first) in the model's snapshot
  graph plus those the server saw connect to ``n``, at most :data:`MAX_SCAN` scanned per request; minus
  A, A's friends (snapshot, the live graph the model was loaded with, fresh connects), users blocked by
  or blocking A (at load or since), deleted users and whoever the list already shows;
- **score**: mutual connections with A, counting fresh connects on both sides (N(x) = snapshot
  neighbours of x ∪ fresh connects of x); ranked by it, ties by user id;
- **merge** (:func:`merge`): the fresh candidates take every other slot from the second one (0-based
  1, 3, 5, ...), at most a quarter of ``k`` (at least one) of them, plus any slot the stored list cannot
  fill; each takes the score of the item above it (1.0 at the top), so scores never rise down the list.
  A fresh item reads ``{"user_id", "score", "reasons": {"mutual_connections": n}, "source": "realtime"}``
  (the list's own ``source`` stays that of the stored list); in the arrays its item index is -1.

Work per request is bounded: at most :data:`MAX_SCAN` candidates, whose snapshot rows are read at once
(one sparse row slice, vectorised), plus the fresh connects the server holds for them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import scipy.sparse as sp

from pymk.serving.exclusions import ExclusionSource
from pymk.serving.lifecycle import LoadedModel
from pymk.serving.lists import StoredList
from pymk.serving.model import MUTUAL, GraphExclusions, ModelRecommender

MAX_SCAN = 200
"""Candidates (friends of fresh neighbours) examined per request at most."""
FRESH_SOURCE = "realtime"
"""The ``source`` of an item added by this module (per item; stored items carry none)."""


@dataclass(frozen=True)
class SnapshotGraph:
    """A loaded model's graph: ``adjacency`` symmetric CSR ``(n, n)`` (the training snapshot),
    ``forbidden`` the live graph's connected/blocked pairs and deletions when it was loaded, ``user_ids``
    index -> external id, ``index`` external id -> index (deleted users left out)."""

    adjacency: sp.csr_matrix
    forbidden: GraphExclusions
    user_ids: Sequence[str]
    index: Mapping[str, int]

    @classmethod
    def of(cls, model: LoadedModel | None) -> SnapshotGraph | None:
        """The graph of ``model`` when it is a :class:`ModelRecommender` (else None: fresh edges only)."""
        if model is None or not isinstance(model.recommender, ModelRecommender):
            return None
        rec = model.recommender
        assert rec.pipeline.featurizer is not None  # checked by ModelRecommender
        return cls(rec.pipeline.featurizer.snap.adjacency, rec.exclusions, model.user_ids, model.index)

    def row(self, i: int) -> np.ndarray:
        """Snapshot neighbours of index ``i`` (int array)."""
        a = self.adjacency
        return np.asarray(a.indices[a.indptr[i] : a.indptr[i + 1]], dtype=np.int64)


def candidates(
    user: str,
    since: float,
    ex: ExclusionSource,
    graph: SnapshotGraph | None,
    shown: set[str],
    limit: int = MAX_SCAN,
) -> list[tuple[str, int]]:
    """``(user id, mutual connections)`` of ``user``'s fresh friends-of-friends (see the module doc),
    best first; [] without a connect at or after ``since``."""
    new = ex.connected(user, since)[::-1]
    if not new:
        return []
    ui = graph.index.get(user) if graph is not None else None
    mine = set(ex.connected(user, 0.0))
    banned = set(ex.hidden(user, 0.0)) | mine | shown | {user}
    mine_idx = np.empty(0, dtype=np.int64)
    if graph is not None and ui is not None:
        row = graph.row(ui)
        forbidden = graph.forbidden.pairs
        lo, hi = forbidden.indptr[ui], forbidden.indptr[ui + 1]
        ids = graph.user_ids
        snap_friends = {ids[j] for j in row.tolist()}
        banned |= snap_friends | {ids[j] for j in forbidden.indices[lo:hi].tolist()}
        mine |= snap_friends
    if graph is not None:  # every friend of the user the snapshot can index, fresh ones included
        mine_idx = np.array(sorted({graph.index[x] for x in mine if x in graph.index}), dtype=np.int64)
    found: dict[str, None] = {}
    for n in new:
        around: list[str] = []
        if graph is not None and (ni := graph.index.get(n)) is not None:
            row = graph.row(ni)
            row = row[~graph.forbidden.deleted[row]][: limit + len(banned)]
            around = [graph.user_ids[j] for j in row.tolist()]
        for c in [*around, *ex.connected(n, 0.0)]:
            if c not in banned and c not in found and not ex.deleted(c):
                found[c] = None
                if len(found) >= limit:
                    break
        if len(found) >= limit:
            break
    if not found:
        return []
    counted = _mutual(list(found), mine, mine_idx, ex, graph)
    return sorted(counted.items(), key=lambda kv: (-kv[1], kv[0]))


def _mutual(
    cands: list[str], mine: set[str], mine_idx: np.ndarray, ex: ExclusionSource, graph: SnapshotGraph | None
) -> dict[str, int]:
    """|N(c) ∩ N(user)| per candidate, N = snapshot neighbours ∪ fresh connects (``mine`` = N(user))."""
    counts = dict.fromkeys(cands, 0)
    snap_rows: dict[str, set[int]] = {}
    if graph is not None:
        known = [(c, graph.index[c]) for c in cands if c in graph.index]
        if known:
            sub = graph.adjacency[np.array([i for _, i in known], dtype=np.int64)]
            owner = np.repeat(np.arange(len(known)), np.diff(sub.indptr))
            hit = np.isin(sub.indices, mine_idx)
            per = np.bincount(owner[hit], minlength=len(known))
            for (c, i), m in zip(known, per.tolist(), strict=True):
                counts[c] = m
                snap_rows[c] = set(graph.row(i).tolist())
    for c in cands:
        row = snap_rows.get(c, set())
        for x in ex.connected(c, 0.0):
            xi = graph.index.get(x) if graph is not None else None
            if x in mine and (xi is None or xi not in row):
                counts[c] += 1
    return counts


def merge(found: StoredList, fresh: list[tuple[str, int]], k: int) -> StoredList:
    """``found`` (already filtered, at most ``k`` items) with ``fresh`` placed as the module doc says."""
    if not fresh:
        return found
    stored = found.item_dicts()
    quota = max(1, k // 4)
    out: list[tuple[dict[str, Any], int]] = []  # (item, position in found or -1)
    s = f = 0
    while len(out) < k and (s < len(stored) or f < len(fresh)):
        slot = len(out)
        take_fresh = f < len(fresh) and ((slot % 2 == 1 and f < quota) or s >= len(stored))
        if take_fresh:
            user, mutual = fresh[f]
            above = float(out[-1][0]["score"]) if out else 1.0
            item = {"user_id": user, "score": above, "reasons": {MUTUAL: mutual}, "source": FRESH_SOURCE}
            out.append((item, -1))
            f += 1
        else:
            out.append((stored[s], s))
            s += 1
    pos = np.array([p for _, p in out], dtype=np.int64)
    was = pos >= 0
    items = np.full(len(out), -1, dtype=np.int32)
    items[was] = found.items[pos[was]]
    scores = np.array([float(d["score"]) for d, _ in out], dtype=np.float32)
    reasons = np.full((len(out), len(found.reason_names)), np.nan, dtype=np.float32)
    reasons[was] = found.reasons[pos[was]]
    if MUTUAL in found.reason_names:
        col = found.reason_names.index(MUTUAL)
        for r, (d, p) in enumerate(out):
            if p < 0:
                reasons[r, col] = d["reasons"][MUTUAL]
    return StoredList(
        found.model_version,
        found.computed_at,
        b",".join(orjson.dumps(d) for d, _ in out),
        items,
        scores,
        reasons,
        found.reason_names,
        found.source,
    )
