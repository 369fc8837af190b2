"""Validation of candidate new signals for the ranker, before any of them is built into pymk.

    .venv/bin/python benchmarks/feature_trials.py --datasets ego-Facebook --trials communities,embeddedness \\
        [--seeds 0,1] [--out JSON]

Where a new pair feature earns its place, never on the test part: each data set's §4 train part is split
again by §4 (as ``ranker_variants.py`` does) and, per trial, the whole pipeline is fitted with the trial's
columns appended to its pair features (training slices and scoring alike), then scored on the inner
query users with the §4 metrics — the default pipeline first, for the baseline. Trials:

- ``communities``: Louvain communities of the snapshot graph (networkx, resolution 1): same community,
  the query user's share of neighbours in the candidate's community and the reverse, community size;
- ``communities_fine``: the same at resolutions 5 and 20 (smaller communities);
- ``embeddedness``: common neighbours weighted by how embedded each edge is (triangles through it over
  the smaller end's possible ones), summed (``tcn``) and degree-normalised (``tra``, ``tcn_n``), and
  both users' local clustering;
- ``distances``: subgraph-sketch counts (as BUDDY's) — the query user's neighbours at distance exactly 2
  from the candidate (``n12``) and the reverse (``n21``), each also over the owner's degree, and the users
  at distance 2 from both (``n22``); dense ``(n, n)`` products, so for the small sets only;
- ``reciprocal``: the pair seen from the candidate's side too — the rank of the candidate among the
  query user's ``ra`` scores over non-neighbours and the reverse, ``ra`` over each side's 20th best, and
  Cannistraci-Hebb CH2-L2 (common neighbours weighted by their links inside the common neighbourhood
  over their links outside it; Muscoloni et al.) with its share of the user's best; dense ``(n, n)``,
  so for the small sets only;
- ``retention``: how overdue each side is (time since its last row over its mean gap between rows) and
  its trend (activity in the last 5 % of the span over the last 30 %), for users who may be leaving;
  ``overdue``: the first two alone; ``overdue_open``: overdue-ness with the gap measured up to ``t``
  (time since the last row times the row count over the time since the first), defined for one row too;
- ``abs_times``: each side's days since its last row and since its first (account age), in days
  rather than shares of the span, as ``abs_windows`` did for the activity windows;
- ``abs_conn``: each side's new partners (pairs whose first row falls) in the last 24 h, 7 days and 30
  days, the fixed-length counterpart of the span-relative ``conn_*`` columns;
- ``coactive``: whether the two were active at the same time — the days (and weeks) among the last 64
  in which both took part in a row, and the days between their last rows;
- ``directed``: common neighbours by the direction of the rows — users both sides wrote to, users who
  wrote to both, and the two-step paths from the query user to the candidate and back;
- ``fresh_triads``: resource allocation over row weights decayed with a short half-life (2 % of the
  span, and 7 days) and the 7-day weighted common neighbours: recent two-step paths count most;
- ``row_clock``: not a column but a change of clock — every activity feature measured in rows (the
  position of a row among those before the cut) instead of seconds, so windows and decays follow
  operational time on data whose rate changes.

The ``completion`` trial that was measured here (resource allocation on the graph completed by every
user's best ``ra`` guesses), the ``centrality`` trial (each side's k-core number, PageRank and mean
neighbour degree) and the ``abs_windows`` trial (each side's rows in the last 1 h, 24 h, 7 days and 30
days) are now part of the pipeline (:mod:`pymk.features.completion`, :mod:`pymk.features.centrality`,
``ABS_WINDOWS`` in :mod:`pymk.features.snapshot`); their figures are in benchmarks/RESULTS.md. A trial's
columns are computed from the snapshot and the rows before its time alone, so they keep its point-in-time
guarantee. Prints recall@20 / ndcg@20 per trial and seed and their means; writes
``benchmarks/out/feature_trials.json``.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import scipy.sparse as sp

from model_validation import add_depth_argument
from pymk.candidates.sources import CandidateConfig
from pymk.evaluation.protocol import Split
from pymk.features.centrality import pair_columns
from pymk.features.pairs import PairBatch, pair_feature_names
from pymk.features.rows import Rows
from pymk.features.snapshot import Snapshot, build_snapshot
from pymk.models.featurizer import Featurizer
from pymk.models.pipeline import PipelineConfig, PymkPipeline
from pymk.models.ranker import Ranker
from ranker_variants import compare_pipelines, run_pipeline

HERE = Path(__file__).resolve().parent
Columns = tuple[tuple[str, ...], Any]  # names, and f(snapshot, rows) -> f(users, cols) -> float32 (m, k)


def _communities(resolutions: tuple[float, ...]) -> Columns:
    names = tuple(f"{k}_{r:g}" for r in resolutions for k in ("same_comm", "q_in_c", "c_in_q", "comm_size"))

    def tables(snap: Snapshot, rows: Rows) -> Any:
        adj = sp.csr_matrix(snap.adjacency)
        graph = nx.from_scipy_sparse_array(adj)
        degree = np.maximum(snap.degree, 1).astype(np.float64)
        found = []
        for r in resolutions:
            label = np.empty(snap.n_users, dtype=np.int64)
            for i, members in enumerate(nx.community.louvain_communities(graph, resolution=r, seed=0)):
                label[list(members)] = i
            k = int(label.max()) + 1
            n = snap.n_users
            onehot = sp.csr_matrix((np.ones(n), (np.arange(n), label)), shape=(n, k))
            found.append((label, (adj @ onehot).tocsr(), np.bincount(label, minlength=k)))

        def columns(users: np.ndarray, cols: np.ndarray) -> np.ndarray:
            out = []
            for label, inside, size in found:
                out += [
                    label[users] == label[cols],
                    np.asarray(inside[users, label[cols]]).ravel() / degree[users],
                    np.asarray(inside[cols, label[users]]).ravel() / degree[cols],
                    size[label[cols]],
                ]
            return np.stack(out, 1).astype(np.float32)

        return columns

    return names, tables


def _embeddedness() -> Columns:
    names = ("tcn", "tra", "tcn_n", "clustering_q", "clustering_c")

    def tables(snap: Snapshot, rows: Rows) -> Any:
        adj = sp.csr_matrix(snap.adjacency, dtype=np.float64)
        triangles = adj.multiply(adj @ adj).tocoo()  # per edge: triangles through it
        degree = snap.degree.astype(np.float64)
        share = triangles.data / np.maximum(np.minimum(degree[triangles.row], degree[triangles.col]) - 1, 1)
        weights = sp.csr_matrix((share, (triangles.row, triangles.col)), shape=adj.shape)
        strength = np.asarray(weights.sum(1)).ravel()
        tcn = (weights @ weights).tocsr()
        tra = (weights @ sp.diags(1 / np.maximum(strength, 1e-9)) @ weights).tocsr()
        closed = np.asarray(triangles.tocsr().sum(1)).ravel() / 2
        clustering = closed / np.maximum(degree * (degree - 1) / 2, 1)

        def columns(users: np.ndarray, cols: np.ndarray) -> np.ndarray:
            a = np.asarray(tcn[users, cols]).ravel()
            b = np.asarray(tra[users, cols]).ravel()
            out = [a, b, a / np.maximum(strength[users], 1e-9), clustering[users], clustering[cols]]
            return np.stack(out, 1).astype(np.float32)

        return columns

    return names, tables


def _distances() -> Columns:
    names = ("n12", "n21", "n22", "n12_share", "n21_share")

    def tables(snap: Snapshot, rows: Rows) -> Any:
        adj = sp.csr_matrix(snap.adjacency).toarray().astype(np.float32)
        far2 = (((adj @ adj) > 0) & (adj == 0)).astype(np.float32)  # distance exactly 2, or self
        np.fill_diagonal(far2, 0.0)
        n12 = adj @ far2  # [u, v]: u's neighbours at distance 2 from v
        n22 = far2 @ far2
        degree = np.maximum(snap.degree, 1).astype(np.float32)

        def columns(users: np.ndarray, cols: np.ndarray) -> np.ndarray:
            a, b = n12[users, cols], n12[cols, users]
            out = [a, b, n22[users, cols], a / degree[users], b / degree[cols]]
            return np.stack(out, 1).astype(np.float32)

        return columns

    return names, tables


def _reciprocal() -> Columns:
    names = ("ra_rank_q", "ra_rank_c", "ra_over_k_q", "ra_over_k_c", "ch2", "ch2_rel")

    def tables(snap: Snapshot, rows: Rows) -> Any:
        adj = sp.csr_matrix(snap.adjacency).toarray().astype(np.float32)
        degree = adj.sum(1)
        ra = adj @ (adj / np.maximum(degree, 1)[:, None])
        ra[adj > 0] = 0.0
        np.fill_diagonal(ra, 0.0)
        ranked = -np.sort(-ra, axis=1)  # each row descending
        kth = np.maximum(ranked[:, 19], 1e-9)

        def rank(owner: np.ndarray, other: np.ndarray) -> np.ndarray:
            """1 + how many of ``owner``'s ra scores beat the pair's (0 scores rank last)."""
            out = np.empty(owner.shape[0], dtype=np.float32)
            order = np.argsort(owner, kind="stable")
            bounds = np.flatnonzero(np.diff(owner[order])) + 1
            for idx in np.split(order, bounds):
                o = owner[idx[0]]
                out[idx] = 1 + np.searchsorted(-ranked[o], -ra[o, other[idx]], side="left")
            return out

        def ch2(users: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """Cannistraci-Hebb CH2-L2 (local-community paradigm) and its share of the user's best."""
            score = np.zeros(users.shape[0], dtype=np.float32)
            rel = np.zeros(users.shape[0], dtype=np.float32)
            order = np.argsort(users, kind="stable")
            bounds = np.flatnonzero(np.diff(users[order])) + 1
            for idx in np.split(order, bounds):
                u = users[idx[0]]
                s = np.flatnonzero(adj[u])
                if s.size == 0:
                    continue
                mv = adj[np.ix_(cols[idx], s)]  # candidate x u's neighbours: the common ones
                inner = mv @ adj[np.ix_(s, s)]  # [v, z]: z's neighbours among the common ones
                outer = np.maximum(degree[s][None, :] - inner - 2, 0)
                got = (mv * (1 + inner) / (1 + outer)).sum(1)
                score[idx] = got
                rel[idx] = got / max(float(got.max()), 1e-9)
            return score, rel

        def columns(users: np.ndarray, cols: np.ndarray) -> np.ndarray:
            pair = ra[users, cols]
            c, r = ch2(users, cols)
            out = [rank(users, cols), rank(cols, users), pair / kth[users], pair / kth[cols], c, r]
            return np.stack(out, 1).astype(np.float32)

        return columns

    return names, tables


def _per_user(names: tuple[str, ...], values: Any) -> Columns:
    """Trial columns from per-user values: ``values(snap, rows)`` float ``(n, k)``, named ``names``; each
    pair gets the candidate's then the query user's value of every column, in turn
    (``c_<name>, q_<name>, ...``)."""

    def tables(snap: Snapshot, rows: Rows) -> Any:
        user = values(snap, rows)

        def columns(users: np.ndarray, cols: np.ndarray) -> np.ndarray:
            out: np.ndarray = pair_columns(user, users, cols).astype(np.float32)
            return out

        return columns

    return tuple(f"{side}_{name}" for name in names for side in ("c", "q")), tables


def _times(snap: Snapshot) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float64 rows, time since the last row and since the first (in spans) of every user."""
    rows, last, first = (snap.feature(f).astype(np.float64) for f in ("rows", "since_last", "age"))
    return rows, last, first


def _retention(with_trend: bool = True) -> Columns:
    def values(snap: Snapshot, rows: Rows) -> np.ndarray:
        rows, last, first = _times(snap)
        gap = (first - last) / np.maximum(rows - 1, 1)  # mean time between a user's rows, in spans
        overdue = np.where(rows >= 2, last / np.maximum(gap, 1e-9), np.nan)
        if not with_trend:
            return overdue[:, None]
        short, long = snap.feature("win_0.05").astype(np.float64), snap.feature("win_0.3").astype(np.float64)
        return np.stack([overdue, short / np.maximum(long, 1e-9)], 1)

    return _per_user(("overdue", "trend") if with_trend else ("overdue",), values)


def _overdue_open() -> Columns:
    def values(snap: Snapshot, rows: Rows) -> np.ndarray:
        rows, last, first = _times(snap)
        # the mean gap counts the open interval since the last row too: defined for one row as well
        return np.where(rows > 0, last * rows / np.maximum(first, 1e-9), 0.0)[:, None]

    return _per_user(("overdue",), values)


def _before(snap: Snapshot, rows: Rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows before the snapshot's time: int64 ``src``, ``dst`` and float64 seconds ``ago`` (zeros
    for untimed rows)."""
    keep = rows.clock < snap.t
    src, dst = rows.src[keep].astype(np.int64), rows.dst[keep].astype(np.int64)
    ago = snap.t - rows.ts[keep].astype(np.float64) if rows.timed else np.zeros(src.shape[0])
    return src, dst, ago


def _absolute_times() -> Columns:
    def values(snap: Snapshot, rows: Rows) -> np.ndarray:
        _, _, ago = _before(snap, rows)
        if not rows.timed or not ago.shape[0]:
            return np.full((snap.n_users, 2), np.nan)
        _, last, first = _times(snap)  # in spans of t - (earliest row): back to days
        days = np.stack([last, first], 1) * float(ago.max()) / 86_400.0
        days[~snap.known] = np.nan
        return days

    return _per_user(("since_last_d", "age_d"), values)


def _absolute_new_partners() -> Columns:
    windows = {"24h": 86_400.0, "7d": 7 * 86_400.0, "30d": 30 * 86_400.0}

    def values(snap: Snapshot, rows: Rows) -> np.ndarray:
        n = snap.n_users
        src, dst, ago = _before(snap, rows)
        out = np.zeros((n, len(windows)))
        if not rows.timed or not src.shape[0]:
            return out
        uniq, inverse = np.unique(np.minimum(src, dst) * n + np.maximum(src, dst), return_inverse=True)
        first = np.zeros(uniq.shape[0])  # seconds since each pair's first row: its largest ``ago``
        np.maximum.at(first, inverse, ago)
        ends, first2 = np.concatenate([uniq // n, uniq % n]), np.tile(first, 2)
        for j, w in enumerate(windows.values()):
            out[:, j] = np.bincount(ends[first2 <= w], minlength=n)
        return out

    return _per_user(tuple(f"new_{w}" for w in windows), values)


def _coactivity() -> Columns:
    names = ("coactive_days", "coactive_weeks", "last_gap_d")
    units = (86_400.0, 7 * 86_400.0)

    def tables(snap: Snapshot, rows: Rows) -> Any:
        n = snap.n_users
        src, dst, ago = _before(snap, rows)
        masks = [np.zeros(n, np.uint64) for _ in units]
        last = np.full(n, np.nan)
        if rows.timed and src.shape[0]:
            both, ago2 = np.concatenate([src, dst]), np.tile(ago, 2)
            for mask, unit in zip(masks, units, strict=True):  # bit b: a row in the b-th unit before t
                bucket = (ago2 // unit).astype(np.int64)
                inside = bucket < 64  # the last 64 units only
                bits = np.left_shift(np.uint64(1), bucket[inside].astype(np.uint64))
                np.bitwise_or.at(mask, both[inside], bits)
            latest = np.full(n, np.inf)
            np.minimum.at(latest, both, ago2)
            last = np.where(np.isfinite(latest), latest / 86_400.0, np.nan)

        def columns(users: np.ndarray, cols: np.ndarray) -> np.ndarray:
            out = [np.bitwise_count(m[users] & m[cols]).astype(np.float64) for m in masks]
            out.append(np.abs(last[users] - last[cols]))
            return np.stack(out, 1).astype(np.float32)

        return columns

    return names, tables


def _directed() -> Columns:
    names = ("out_out", "in_in", "q_to_c", "c_to_q")

    def tables(snap: Snapshot, rows: Rows) -> Any:
        n = snap.n_users
        src, dst, _ = _before(snap, rows)
        out = sp.csr_matrix((np.ones(src.shape[0]), (src, dst)), shape=(n, n))
        out.data[:] = 1.0  # who wrote to whom, once per ordered pair
        into = out.T.tocsr()

        def shared(a: Any, b: Any, users: np.ndarray, cols: np.ndarray) -> np.ndarray:
            return np.asarray(a[users].multiply(b[cols]).sum(1)).ravel()

        def columns(users: np.ndarray, cols: np.ndarray) -> np.ndarray:
            found = [  # both wrote to w; w wrote to both; q wrote to w, who wrote to c; the reverse
                shared(out, out, users, cols),
                shared(into, into, users, cols),
                shared(out, into, users, cols),
                shared(into, out, users, cols),
            ]
            return np.stack(found, 1).astype(np.float32)

        return columns

    return names, tables


def _fresh_triads() -> Columns:
    names = ("wra_span_0.02", "wra_7d", "wcn_7d")

    def tables(snap: Snapshot, rows: Rows) -> Any:
        n = snap.n_users
        src, dst, ago = _before(snap, rows)
        span = max(float(ago.max()), 1e-9) if ago.shape[0] else 1.0
        inverse = sp.diags(1.0 / np.maximum(snap.degree, 1).astype(np.float64))
        ends = (np.concatenate([src, dst]), np.concatenate([dst, src]))
        weights = []
        for half_life in (0.02 * span, 7 * 86_400.0):  # each row decayed, summed per unordered pair
            m = sp.csr_matrix((np.tile(np.exp2(-ago / half_life), 2), ends), shape=(n, n))
            weights.append((m, (m @ inverse).tocsr()))

        def columns(users: np.ndarray, cols: np.ndarray) -> np.ndarray:
            found = [np.asarray(scaled[users].multiply(m[cols]).sum(1)).ravel() for m, scaled in weights]
            m = weights[1][0]
            found.append(np.asarray(m[users].multiply(m[cols]).sum(1)).ravel())
            return np.stack(found, 1).astype(np.float32)

        return columns

    return names, tables


TRIALS: dict[str, Columns | None] = {
    "communities": _communities((1.0,)),
    "communities_fine": _communities((5.0, 20.0)),
    "embeddedness": _embeddedness(),
    "distances": _distances(),
    "reciprocal": _reciprocal(),
    "retention": _retention(),
    "overdue": _retention(with_trend=False),
    "overdue_open": _overdue_open(),
    "abs_times": _absolute_times(),
    "abs_conn": _absolute_new_partners(),
    "coactive": _coactivity(),
    "directed": _directed(),
    "fresh_triads": _fresh_triads(),
    "row_clock": None,
}


def row_clock_snapshot(rows: Rows, t: float) -> Snapshot:
    """:func:`build_snapshot` as of ``t`` with each row's time replaced by its position among the rows
    before ``t`` (ties share one), so that spans, windows and decays count rows, not seconds."""
    keep = rows.clock < t
    if not rows.timed or not keep.any():
        return build_snapshot(rows, t)
    ts = rows.ts[keep]
    position = np.searchsorted(np.sort(ts), ts, side="left").astype(np.float64)
    moved = Rows(rows.src[keep], rows.dst[keep], position, rows.n_users)
    return replace(build_snapshot(moved, float(ts.shape[0])), t=float(t))  # labels still cut at t


class TrialFeaturizer(Featurizer):
    """The pipeline's featurizer with a trial's columns appended to every batch."""

    def __init__(
        self, snap: Snapshot, candidates: CandidateConfig, *, columns: Any, rows: Rows, **options: Any
    ) -> None:
        super().__init__(snap, candidates, **options)
        self.columns = columns(snap, rows)

    def batch(self, users: np.ndarray) -> PairBatch:
        pb = super().batch(users)
        extra = self.columns(pb.users[pb.rows], pb.cols)
        return PairBatch(pb.users, pb.rows, pb.cols, np.hstack([pb.features, extra]))


def trial_pipeline(name: str) -> type[PymkPipeline]:
    """A :class:`PymkPipeline` whose snapshots or features carry trial ``name`` (``default``: the pipeline
    itself)."""
    if name == "default":
        return PymkPipeline
    trial = TRIALS[name]

    class Trial(PymkPipeline):
        def __init__(self, config: PipelineConfig | None = None) -> None:
            super().__init__(config)
            if trial is not None:
                names = pair_feature_names(self.config.centrality) + trial[0]
                self.rankers = [Ranker(names, r.config) for r in self.rankers]
                self.ranker = self.rankers[0]

        def _featurizer(self, rows: Rows, t: float, gnn_vectors: np.ndarray | None = None) -> Featurizer:
            candidates = self.config.candidates
            options = self.featurizer_options() | {"gnn_vectors": gnn_vectors}
            if trial is None:  # row_clock
                return Featurizer(row_clock_snapshot(rows, t), candidates, **options)
            snap = build_snapshot(rows, t)
            return TrialFeaturizer(snap, candidates, columns=trial[1], rows=rows, **options)

    return Trial


def run_trial(split: Split, name: str, seeds: list[int]) -> dict[str, Any]:
    """Fit the pipeline of trial ``name`` (``default``: none) on ``split``; §4 metrics per ranker seed."""
    return run_pipeline(split, trial_pipeline(name), seeds)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", default="ego-Facebook")
    parser.add_argument("--trials", default="communities,embeddedness", help=f"of {', '.join(TRIALS)}")
    parser.add_argument("--seeds", default="0,1", help="ranker seeds, comma-separated")
    add_depth_argument(parser)
    parser.add_argument("--out", type=Path, default=HERE / "out" / "feature_trials.json")
    args = parser.parse_args()
    trials = ["default", *args.trials.split(",")]
    unknown = sorted(set(trials) - set(TRIALS) - {"default"})
    if unknown:
        parser.error(f"unknown trial(s): {', '.join(unknown)}; known: {', '.join(TRIALS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    pipelines = {name: trial_pipeline(name) for name in trials}
    compare_pipelines(args.datasets, pipelines, seeds, args.out, args.depth)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
