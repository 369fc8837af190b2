"""The learned ranker: LightGBM over pair features, with save/load and per-pair reasons.

Deterministic for a given seed: ``deterministic=True``, ``force_row_wise`` and a fixed thread count (one
by default: on a shared 2-core machine two OpenMP threads ran 7-10x *slower* than one, busy-waiting).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from pymk.models.compiled import Forest, compile_boosters


@dataclass(frozen=True)
class Examples:
    """Labelled pairs grouped by query user: ``features`` float32 ``(m, f)``, ``labels`` int ``(m,)`` 0/1,
    ``groups`` int64 ``(g,)`` sizes of consecutive per-user runs (summing to ``m``)."""

    features: np.ndarray
    labels: np.ndarray
    groups: np.ndarray

    @staticmethod
    def concat(parts: list[Examples]) -> Examples:
        """The examples of ``parts`` one after another (groups kept)."""
        return Examples(
            np.concatenate([p.features for p in parts]),
            np.concatenate([p.labels for p in parts]),
            np.concatenate([p.groups for p in parts]),
        )


@dataclass(frozen=True)
class RankerConfig:
    """LightGBM settings; ``max_rounds`` is cut by early stopping on the validation slice.

    ``binary`` beat ``lambdarank`` on recall@20 in validation inside the train window on CollegeMsg,
    bitcoin-otc and ego-Facebook (the train part re-split by §4; the test part unseen).
    """

    objective: str = "binary"
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_data_in_leaf: int = 50
    feature_fraction: float = 0.8
    max_rounds: int = 400
    early_stopping: int = 40
    threads: int = 1
    seed: int = 0
    #: Weigh each query user's rows by ``1 / its positives`` so every user counts once, as in the mean
    #: recall/ndcg over query users (otherwise users with many new links dominate the loss).
    per_user_weight: bool = False
    #: Boosters trained with seeds ``seed..seed+bags-1`` (each on a random 80 % of the rows per round when
    #: ``bags > 1``), raw scores averaged: bagging steadies a ranker trained on few labelled pairs. In
    #: validation inside the train window (3 seeds each) 4 bags lifted recall@20 on CollegeMsg .178 -> .185
    #: and bitcoin-otc .278 -> .289. Scoring costs a predict per bag, so it applies only below
    #: ``bag_below_rows`` training rows, where samples are small and noisy and prediction is cheap
    #: (``None``: at any size). At any size it helped a little on the large sets' validation — sx-askubuntu
    #: recall@20 / ndcg@20 .0737 / .0396 against .0726 / .0390 (seeds 0-2, better on each), ego-Facebook
    #: .5954 / .4560 against .5928 / .4547 (seed 0) — but left sx-askubuntu's test ndcg@20 where it was
    #: (.0362) for 4x the ranker's predict cost on those sets, so the limit stays.
    bags: int = 4
    bag_below_rows: int | None = 150_000
    #: Features the score may only rise with, all else equal (LightGBM monotone constraints): the
    #: mutual-connection family, so that more mutual connections never count against a candidate. In
    #: validation inside the train window (the train part re-split by §4; ``benchmarks/RESULTS.md``,
    #: "rankers monotone in the mutual-connection family") recall@20 without / with, seeds 0-2: CollegeMsg
    #: .1858 / .1883, bitcoin-otc .2903 / .3150; seed 0: ego-Facebook .5943 / .5963, sx-askubuntu
    #: .0692 / .0719. Names not among the ranker's features are an error at fit.
    increasing: tuple[str, ...] = (
        "cn", "aa", "ra", "wra", "cn_rel", "aa_rel", "ra_rel", "wra_rel",
        "jaccard", "cn_share", "cn_share_c", "hpi", "hdi",
    )  # fmt: skip

    def params(self, bag: int = 0, bags: int = 1, features: tuple[str, ...] = ()) -> dict[str, Any]:
        """The LightGBM parameter dict of booster ``bag`` of ``bags`` over columns named ``features``
        (they place :attr:`increasing`'s constraints; without them there are none)."""
        extra: dict[str, Any] = {"bagging_fraction": 0.8, "bagging_freq": 1} if bags > 1 else {}
        unknown = sorted(set(self.increasing) - set(features)) if features else []
        if unknown:
            raise ValueError(f"increasing names features the ranker does not have: {', '.join(unknown)}")
        rising = set(self.increasing)
        constraints = [int(f in rising) for f in features]
        if any(constraints):
            extra["monotone_constraints"] = constraints
        return extra | {
            "objective": self.objective,
            "metric": "ndcg",  # early stopping on ndcg@20 per query user, whatever the objective
            "eval_at": [20],
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "num_threads": self.threads,
            "seed": self.seed + bag,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }


class Ranker:
    """A LightGBM booster over named features; higher scores rank first."""

    def __init__(self, feature_names: tuple[str, ...], config: RankerConfig | None = None) -> None:
        self.feature_names = feature_names
        self.config = config or RankerConfig()
        self.boosters: list[Any] = []
        self.best_rounds = 0
        #: The boosters compiled to native code (:meth:`compile`), used by :meth:`predict` when set.
        self.compiled: list[Forest] | None = None
        #: The cache files ``compiled`` came from: a pickled copy (a Ray actor's) loads them again.
        self._compiled_from: list[Path] | None = None

    def _dataset(self, ex: Examples, reference: Any = None) -> Any:
        weight = None
        if self.config.per_user_weight and ex.groups.shape[0]:
            starts = np.concatenate(([0], np.cumsum(ex.groups)[:-1]))
            positives = np.add.reduceat(ex.labels.astype(np.float64), starts)
            weight = np.repeat(1.0 / np.maximum(positives, 1.0), ex.groups)
            weight *= weight.shape[0] / weight.sum()
        return lgb.Dataset(
            ex.features,
            label=ex.labels,
            group=ex.groups,
            weight=weight,
            feature_name=list(self.feature_names),
            reference=reference,
            free_raw_data=False,
        )

    def fit(self, train: Examples, valid: Examples | None = None, rounds: int | None = None) -> int:
        """Train on ``train``; with ``valid``, stop early on it. Returns the number of rounds kept (with
        several bags: their median, which every booster then uses)."""
        dtrain = self._dataset(train)
        callbacks: list[Any] = []
        valid_sets = []
        if valid is not None:
            valid_sets = [self._dataset(valid, reference=dtrain)]
            callbacks = [lgb.early_stopping(self.config.early_stopping, verbose=False)]
        self.boosters, kept, self.compiled, self._compiled_from = [], [], None, None
        limit = self.config.bag_below_rows
        bags = self.config.bags if limit is None or train.labels.shape[0] < limit else 1
        for bag in range(bags):
            booster = lgb.train(
                self.config.params(bag, bags, self.feature_names),
                dtrain,
                num_boost_round=rounds or self.config.max_rounds,
                valid_sets=valid_sets,
                callbacks=callbacks,
            )
            best = int(booster.best_iteration or 0)
            kept.append(best if best > 0 else int(booster.current_iteration()))
            self.boosters.append(booster)
        self.best_rounds = int(np.median(kept))
        return self.best_rounds

    def predict(self, features: np.ndarray) -> np.ndarray:
        """float64 ``(m,)`` raw scores for float32 ``(m, f)`` features (mean over the bags)."""
        if not self.boosters:
            raise RuntimeError("predict() called before fit()")
        total = np.zeros(features.shape[0])
        if self.compiled is not None:
            data = np.ascontiguousarray(features, dtype=np.float64)
            for forest in self.compiled:
                total += forest.predict(data, n_jobs=self.config.threads)
            fast: np.ndarray = total / len(self.compiled)
            return fast
        for booster in self.boosters:
            total += booster.predict(
                features, num_iteration=self.best_rounds or None, num_threads=self.config.threads
            )
        out: np.ndarray = total / len(self.boosters)
        return out

    def model_texts(self) -> list[str]:
        """Each booster as LightGBM model text, cut to the rounds :meth:`predict` uses."""
        return [b.model_to_string(num_iteration=self.best_rounds or None) for b in self.boosters]

    def compile(self, caches: list[Path | None] | None = None, *, build: bool = True) -> bool:
        """Make :meth:`predict` run natively compiled boosters (:mod:`pymk.models.compiled`): compiled now
        or loaded from ``caches`` (one path per booster; written when missing and ``build``). Returns
        whether it did; without lleaves (or ``build=False`` and a missing cache) LightGBM stays in use."""
        if not self.boosters:
            return False
        paths = caches if caches is not None else [None] * len(self.boosters)
        self.compiled = compile_boosters(self.model_texts(), paths, build=build)
        files = [p for p in paths if p is not None]
        self._compiled_from = files if self.compiled is not None and len(files) == len(paths) else None
        return self.compiled is not None

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the compiled code (native pointers); see :meth:`__setstate__`."""
        state = dict(self.__dict__)
        state["compiled"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickle; compiled code that came from cache files is loaded from them again when they exist
        here (same host kind), else the copy predicts with LightGBM."""
        self.__dict__.update(state)
        files = self.__dict__.setdefault("_compiled_from", None)
        if files is not None:
            self.compiled = compile_boosters(self.model_texts(), list(files), build=False)

    @property
    def booster(self) -> Any:
        """The first bag's LightGBM booster, ``None`` before :meth:`fit`."""
        return self.boosters[0] if self.boosters else None

    def contributions(self, features: np.ndarray) -> np.ndarray:
        """float64 ``(m, f)``: each feature's SHAP contribution to each row's score (mean over the bags)."""
        if not self.boosters:
            raise RuntimeError("contributions() called before fit()")
        contrib = np.zeros((features.shape[0], len(self.feature_names)))
        for booster in self.boosters:
            raw = booster.predict(features, pred_contrib=True, num_iteration=self.best_rounds or None)
            contrib += np.asarray(raw)[:, : len(self.feature_names)]
        out: np.ndarray = contrib / len(self.boosters)
        return out

    def reasons(self, features: np.ndarray, top: int = 3) -> list[list[tuple[str, float]]]:
        """Per row, the ``top`` features that raised its score most: ``[(name, contribution), ...]``."""
        contrib = self.contributions(features)
        order = np.argsort(-contrib, axis=1)[:, :top]
        return [
            [(self.feature_names[j], float(contrib[i, j])) for j in row if contrib[i, j] > 0]
            for i, row in enumerate(order)
        ]

    def save(self, path: Path) -> None:
        """Write the booster (LightGBM text format), feature names and config as one JSON file."""
        body = {
            "feature_names": list(self.feature_names),
            "config": asdict(self.config),
            "best_rounds": self.best_rounds,
            "boosters": [b.model_to_string() for b in self.boosters],
        }
        path.write_text(json.dumps(body))

    @classmethod
    def load(cls, path: Path) -> Ranker:
        """The ranker :meth:`save` wrote to ``path``."""
        body = json.loads(path.read_text())
        ranker = cls(tuple(body["feature_names"]), RankerConfig(**body["config"]))
        ranker.boosters = [lgb.Booster(model_str=text) for text in body["boosters"]]
        ranker.best_rounds = int(body["best_rounds"])
        return ranker
