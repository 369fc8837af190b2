"""Labelled training pairs from a slice of the train window (DESIGN §4's definition, shifted back in time).

Features come from the snapshot as of ``t0``; the labels are the *new* pairs of rows with
``t0 <= clock < t1`` whose two users were both seen before ``t0`` and were not yet linked — exactly how the
§4 truth treats the test part, so the ranker learns the task it is evaluated on.
"""

from __future__ import annotations

import numpy as np

from pymk.features.rows import Rows
from pymk.features.snapshot import Snapshot
from pymk.models.featurizer import Featurizer
from pymk.models.ranker import Examples


def new_pair_keys(rows: Rows, snap: Snapshot, t1: float) -> np.ndarray:
    """Sorted distinct int64 keys ``u * n + v`` (both directions) of new pairs in ``[snap.t, t1)``."""
    n = rows.n_users
    sel = rows.between(snap.t, t1)
    a, b = rows.src[sel].astype(np.int64), rows.dst[sel].astype(np.int64)
    known = snap.known
    keep = known[a] & known[b] & (a != b)
    a, b = a[keep], b[keep]
    adj = snap.adjacency
    linked = np.asarray(adj[a, b]).ravel() > 0 if a.shape[0] else np.zeros(0, dtype=bool)
    a, b = a[~linked], b[~linked]
    keys: np.ndarray = np.unique(np.concatenate([a * n + b, b * n + a]))
    return keys


def slice_examples(
    rows: Rows,
    featurizer: Featurizer,
    t1: float,
    *,
    max_users: int,
    negatives: int,
    batch: int,
    seed: int,
) -> Examples:
    """Candidates + features of up to ``max_users`` labelled users (sampled with ``seed``), labelled.

    Per user every positive and up to ``negatives`` random negative candidates are kept. Users none of
    whose new partners are among their candidates are dropped (no ranking signal).
    """
    n = rows.n_users
    keys = new_pair_keys(rows, featurizer.snap, t1)
    users = np.unique(keys // n)
    rng = np.random.default_rng(seed)
    if users.shape[0] > max_users:
        users = np.sort(rng.choice(users, max_users, replace=False))
    feats, labels, groups = [], [], []
    for pb in featurizer.batches(users.astype(np.int64), batch):
        pair_keys = pb.users[pb.rows] * n + pb.cols
        pos = np.minimum(np.searchsorted(keys, pair_keys), max(keys.shape[0] - 1, 0))
        y = (keys[pos] == pair_keys).astype(np.int32)
        hits = np.bincount(pb.rows, weights=y, minlength=pb.users.shape[0])
        keep = (hits > 0)[pb.rows] & sample_negatives(pb.rows, y, negatives, rng)
        feats.append(pb.features[keep])
        labels.append(y[keep])
        sizes = np.bincount(pb.rows[keep], minlength=pb.users.shape[0])
        groups.append(sizes[sizes > 0])
    if not feats:
        width = len(featurizer.scorer.feature_names)
        return Examples(np.zeros((0, width), np.float32), np.zeros(0, np.int32), np.zeros(0, np.int64))
    return Examples(np.concatenate(feats), np.concatenate(labels), np.concatenate(groups).astype(np.int64))


def sample_negatives(rows: np.ndarray, y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """bool ``(m,)``: every positive, and per row id (``rows`` sorted) ``k`` random negatives."""
    m = int(rows.shape[0])
    noise: np.ndarray = rng.random(m)
    order = np.lexsort((noise, y, rows))  # per row: negatives first, in random order
    start = np.searchsorted(rows[order], rows[order], side="left")
    rank = np.arange(m) - start
    keep = np.empty(m, dtype=bool)
    keep[order] = rank < k
    keep |= y > 0
    return keep
