"""The evaluation split of DESIGN §4, exactly: the part every model and check shares.

1. read interactions, drop self-loops, treat pairs as undirected;
2. order by time (stable), or for static data shuffle with ``default_rng(seed).permutation``;
   train = the first ``int(n * (1 - test_fraction))`` rows, test = the rest;
3. train users = users in any train row, train graph = unique undirected train pairs;
4. query users = train users gaining a *new* neighbour in test (both ends train users, not a train pair);
   truth = each query user's set of new neighbours.

Users are re-numbered ``0..n_users-1`` over the train users only, in order of first appearance in the
file, so every array here is indexed by that train index.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pymk.events.ids import IdMap
from pymk.events.schema import INTERACTION_TYPES
from pymk.io.formats import Format
from pymk.io.readers import OnError, iter_batches


@dataclass(frozen=True)
class Interactions:
    """Interaction rows in file order.

    ``src``/``dst``: int32 ids of ``ids``; ``ts``: float64 UNIX seconds (NaN: none).

    Self-loops are already dropped. ``static`` is true when the format carries no time.
    """

    src: np.ndarray
    dst: np.ndarray
    ts: np.ndarray
    ids: IdMap
    static: bool

    def __len__(self) -> int:
        return int(self.src.shape[0])


def load_interactions(path: Path, fmt: Format, *, on_error: OnError = "raise") -> Interactions:
    """Read every interaction of ``path`` (events-jsonl: only :data:`INTERACTION_TYPES` events)."""
    ids = IdMap()
    src: list[np.ndarray] = []
    dst: list[np.ndarray] = []
    ts: list[np.ndarray] = []
    for batch in iter_batches(path, fmt, on_error=on_error):
        if fmt is Format.EVENTS_JSONL:
            keep = [i for i, t in enumerate(batch.type) if t in INTERACTION_TYPES]
            actors = [batch.actor[i] for i in keep]
            targets = [str(batch.target[i]) for i in keep]
            times = np.asarray([batch.ts[i] for i in keep], dtype=np.float64)
        else:
            actors, targets, times = batch.actor, [str(t) for t in batch.target], batch.ts_array()
        # Encode row by row so ids are numbered in order of first appearance in the file.
        both = ids.encode(x for pair in zip(actors, targets, strict=True) for x in pair)
        src.append(both[0::2])
        dst.append(both[1::2])
        ts.append(times)
    return Interactions(
        src=_concat(src, np.int32),
        dst=_concat(dst, np.int32),
        ts=_concat(ts, np.float64),
        ids=ids,
        static=fmt is Format.SNAP_STATIC,
    )


def _concat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)


@dataclass(frozen=True)
class Split:
    """The §4 split, on train indices ``0..n_users-1``.

    ``train_src/train_dst/train_ts`` are the train rows in time order (undirected meaning, original
    direction kept); ``pair_u < pair_v`` the unique train pairs; ``truth_indptr/truth_indices`` a CSR of
    each train user's new test neighbours (sorted); ``query_users`` the users whose truth is non-empty;
    ``user_ids`` the external id of each train index.
    """

    n_users: int
    train_src: np.ndarray
    train_dst: np.ndarray
    train_ts: np.ndarray
    pair_u: np.ndarray
    pair_v: np.ndarray
    truth_indptr: np.ndarray
    truth_indices: np.ndarray
    query_users: np.ndarray
    user_ids: list[str]
    test_fraction: float
    seed: int

    @property
    def truth_pairs(self) -> int:
        """Truth entries summed over query users (a new pair counts once per query-user endpoint)."""
        return int(self.truth_indices.shape[0])

    def truth(self, user: int) -> np.ndarray:
        """Sorted train indices of ``user``'s new neighbours."""
        return self.truth_indices[self.truth_indptr[user] : self.truth_indptr[user + 1]]


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values. NumPy 2.4's ``np.unique`` hashes int64 and is ~50x slower at 10M+ rows."""
    ordered = np.sort(values)
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))] if ordered.size else ordered


def _pair_keys(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    lo, hi = np.minimum(a, b).astype(np.int64), np.maximum(a, b).astype(np.int64)
    keys: np.ndarray = lo * n + hi
    return keys


def split_interactions(inter: Interactions, *, test_fraction: float = 0.2, seed: int = 0) -> Split:
    """Apply DESIGN §4 steps 2–4 to ``inter`` (whose self-loops are already gone)."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    n = len(inter)
    if inter.static:
        order = np.random.default_rng(seed).permutation(n)
    else:
        order = np.argsort(inter.ts, kind="stable")
    n_train = int(n * (1.0 - test_fraction))  # 1.0 - 0.2 == 0.8 exactly, as §4 says
    train_rows, test_rows = order[:n_train], order[n_train:]

    # Re-number train users 0..U-1 in order of first appearance in the file (row order, src before dst).
    tr_sorted = np.sort(train_rows)
    seq = np.column_stack([inter.src[tr_sorted], inter.dst[tr_sorted]]).ravel()
    # First appearance of each id: a stable sort keeps, for each run of equal ids, the earliest position.
    by_id = np.argsort(seq, kind="stable")
    ids_sorted = seq[by_id]
    starts = np.flatnonzero(np.concatenate(([True], ids_sorted[1:] != ids_sorted[:-1])))
    first = by_id[starts]
    train_users = ids_sorted[starts][np.argsort(first, kind="stable")]
    to_train = np.full(len(inter.ids), -1, dtype=np.int64)
    to_train[train_users] = np.arange(train_users.shape[0])
    n_users = int(train_users.shape[0])

    t_src = to_train[inter.src[train_rows]].astype(np.int32)
    t_dst = to_train[inter.dst[train_rows]].astype(np.int32)
    keys = _sorted_unique(_pair_keys(t_src, t_dst, n_users))
    pair_u, pair_v = (keys // max(n_users, 1)).astype(np.int32), (keys % max(n_users, 1)).astype(np.int32)

    a, b = to_train[inter.src[test_rows]], to_train[inter.dst[test_rows]]
    known = (a >= 0) & (b >= 0) & (a != b)
    test_keys = _sorted_unique(_pair_keys(a[known], b[known], n_users))
    pos = np.searchsorted(keys, test_keys)
    in_train = (pos < keys.shape[0]) & (keys[np.minimum(pos, max(keys.shape[0] - 1, 0))] == test_keys)
    new_keys = test_keys[~in_train] if keys.shape[0] else test_keys
    nu, nv = new_keys // max(n_users, 1), new_keys % max(n_users, 1)
    rows = np.concatenate([nu, nv])
    cols = np.concatenate([nv, nu])
    ordr = np.lexsort((cols, rows))
    rows, cols = rows[ordr], cols[ordr]
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_users), out=indptr[1:])
    query = np.flatnonzero(np.diff(indptr) > 0).astype(np.int32)
    return Split(
        n_users=n_users,
        train_src=t_src,
        train_dst=t_dst,
        train_ts=inter.ts[train_rows],
        pair_u=pair_u,
        pair_v=pair_v,
        truth_indptr=indptr,
        truth_indices=cols.astype(np.int32),
        query_users=query,
        user_ids=inter.ids.decode(train_users),
        test_fraction=test_fraction,
        seed=seed,
    )
