"""Models for :mod:`pymk.evaluation.replay`: what "re-stating as of a refresh" means for each.

- :class:`RecentActivity` (``active7d``, the replay's check model): a candidate's rows within the
  window before the state time — exact, kept by incremental counts (add rows entering, drop rows leaving);
- :class:`Refit` wraps a §4 baseline: its state as of ``t`` *is* a fit on the rows before ``t``;
- :class:`PymkState`: the pipeline's ranker is learned once on the train state; each refresh rebuilds
  only its scoring snapshot (features, candidates) from the state's rows, keeping the LightGCN vectors
  of training (re-training them per refresh would be a re-fit).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from pymk.evaluation.model import EvalModel
from pymk.evaluation.protocol import Split, _pair_keys, _sorted_unique
from pymk.evaluation.replay import ReplayState, StateModel

if TYPE_CHECKING:
    from pymk.models.pipeline import PipelineConfig

#: ``active7d``'s look-back, seconds.
WEEK = 7 * 86400.0


class RecentActivity:
    """Rows each user took part in (as src or dst; repeats count) with ``time - window <= t``."""

    def __init__(self, window: float = WEEK) -> None:
        self.window = window
        self._counts = np.zeros(0, dtype=np.int64)
        self._lo = self._hi = 0
        self._src = self._dst = np.zeros(0, dtype=np.int32)
        self._n = 0

    def fit(self, state: ReplayState) -> None:
        """Nothing to learn; size the counters for every user of the replay."""
        self._counts = np.zeros(state.n_all, dtype=np.int64)
        self._lo = self._hi = 0
        self.restate(state)

    def restate(self, state: ReplayState) -> None:
        """Move the window to ``[state.time - window, state.time]`` over the state's rows."""
        m = len(state)
        lo = int(np.searchsorted(state.clock, state.time - self.window, side="left"))
        lo = min(lo, m)
        if self._counts.shape[0] < state.n_all:
            self._counts = np.zeros(state.n_all, dtype=np.int64)
            self._lo = self._hi = 0
        if m < self._hi or lo < self._lo or lo >= self._hi:  # not a forward slide: recount
            self._counts[:] = 0
            self._lo = self._hi = lo
        self._add(state, self._hi, m, 1)
        self._add(state, self._lo, lo, -1)
        self._lo, self._hi, self._n = lo, m, state.n_known

    def _add(self, state: ReplayState, lo: int, hi: int, sign: int) -> None:
        if hi > lo:
            n = self._counts.shape[0]
            self._counts += sign * np.bincount(state.src[lo:hi], minlength=n)
            self._counts += sign * np.bincount(state.dst[lo:hi], minlength=n)

    def score(self, users: np.ndarray) -> np.ndarray:
        """float32 ``(b, n_known)``: the window counts, the same for every query user."""
        out = np.empty((users.shape[0], self._n), dtype=np.float32)
        out[:] = self._counts[: self._n]
        return out


def state_split(state: ReplayState) -> Split:
    """The state as a §4 :class:`Split` on its known users (train = all its rows, no truth)."""
    n = state.n_known
    keys = _sorted_unique(_pair_keys(state.src, state.dst, n))
    div = max(n, 1)
    return Split(
        n_users=n,
        train_src=state.src,
        train_dst=state.dst,
        train_ts=state.clock,
        pair_u=(keys // div).astype(np.int32),
        pair_v=(keys % div).astype(np.int32),
        truth_indptr=np.zeros(n + 1, dtype=np.int64),
        truth_indices=np.zeros(0, dtype=np.int32),
        query_users=np.zeros(0, dtype=np.int32),
        user_ids=[],
        test_fraction=0.2,
        seed=0,
    )


class Refit:
    """A §4 model whose state as of ``t`` is a fit on the rows before ``t`` (the heuristic baselines)."""

    def __init__(self, factory: Callable[[], EvalModel]) -> None:
        self.model = factory()

    def fit(self, state: ReplayState) -> None:
        """Fit on the train state."""
        self.restate(state)

    def restate(self, state: ReplayState) -> None:
        """Fit afresh on ``state``'s rows."""
        self.model.fit(state_split(state))

    def score(self, users: np.ndarray) -> np.ndarray:
        """The wrapped model's scores on the state's known users."""
        return self.model.score(users)


class PymkState:
    """The pymk pipeline: ranker learned on the train state, snapshot rebuilt at every refresh."""

    def __init__(self, config: PipelineConfig | None = None) -> None:
        from pymk.models.pipeline import PymkPipeline

        self.pipeline = PymkPipeline(config)
        self._gnn: np.ndarray | None = None
        self._n = 0

    def fit(self, state: ReplayState) -> None:
        """Train on the train state's rows, sized for every user of the replay; the rankers are then
        compiled (:mod:`pymk.models.compiled`): a replay scores thousands of queries with them."""
        self.pipeline.fit(state.rows(state.n_all))
        for ranker in self.pipeline.rankers:
            ranker.compile()
        featurizer = self.pipeline.featurizer
        self._gnn = featurizer.scorer.gnn_vectors if featurizer is not None else None
        self._n = state.n_known

    def restate(self, state: ReplayState) -> None:
        """Rebuild the scoring snapshot from ``state``'s rows (as of their end; the ranker is kept)."""
        self.pipeline.restore(state.rows(state.n_all), self._gnn)
        self._n = state.n_known

    def score(self, users: np.ndarray) -> np.ndarray:
        """The pipeline's scores, cut to the state's known users."""
        return np.ascontiguousarray(self.pipeline.score(users)[:, : self._n])


def replay_factories(names: list[str]) -> dict[str, Callable[[], StateModel]]:
    """Factories by name: ``active7d``, ``pymk`` and every model of the §4 registry."""
    from pymk.evaluation.registry import default_registry

    registry = default_registry()
    out: dict[str, Callable[[], StateModel]] = {}
    for name in dict.fromkeys(names):
        if name == "active7d":
            out[name] = RecentActivity
        elif name == "pymk":
            out[name] = PymkState
        else:
            registry.create(name)  # validates the name

            def make(name: str = name) -> Refit:
                return Refit(lambda: registry.create(name))

            out[name] = make
    return out
