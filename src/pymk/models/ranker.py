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

#: The priors :attr:`RankerConfig.prior` may name: each is a logistic model over these transforms of a
#: pair's own feature columns (``log1p`` or ``id``), fitted to the labels before the boosters are trained.
#: ``recent``: the candidate's activity in the last 10 % of the span (what the ``recent`` baseline ranks
#: by; 0 on untimed data); ``ra``: resource allocation, absolute and relative to the user's best candidate
#: (what the ``ra`` baseline ranks by); ``recent+ra``: both.
PRIORS: dict[str, tuple[tuple[str, str], ...]] = {
    "recent": (("c_win_0.1", "log1p"),),
    "ra": (("ra", "log1p"), ("ra_rel", "id")),
    "recent+ra": (("c_win_0.1", "log1p"), ("ra", "log1p"), ("ra_rel", "id")),
}


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
    #: A baseline score the boosters only correct: one of :data:`PRIORS` (``None``: none). Its logistic
    #: coefficients are fitted on the training labels, the prior is every row's LightGBM ``init_score``
    #: in training, and :meth:`Ranker.predict` adds it to the boosters' raw score (then applies the
    #: objective's link, the sigmoid for ``binary``). It reads only the pair's own feature row, so
    #: training, batch and real-time scoring apply it alike.
    prior: str | None = None
    #: Features the score may only rise with, all else equal (LightGBM monotone constraints): the
    #: mutual-connection family, so that more mutual connections never count against a candidate. In
    #: validation inside the train window (the train part re-split by §4; ``benchmarks/RESULTS.md``,
    #: "Monotone in the mutual connections") recall@20 without / with, mean of seeds 0-2: CollegeMsg
    #: .1858 / .1883, bitcoin-otc .2903 / .3150; seed 0: ego-Facebook .5943 / .5963, sx-askubuntu
    #: .0692 / .0719. Names not among the ranker's features are an error at fit.
    increasing: tuple[str, ...] = (
        "cn", "aa", "ra", "wra", "cn_rel", "aa_rel", "ra_rel", "wra_rel",
        "jaccard", "cn_share", "cn_share_c", "hpi", "hdi",
    )  # fmt: skip

    def __post_init__(self) -> None:
        if self.prior is not None and self.prior not in PRIORS:
            raise ValueError(f"unknown prior {self.prior!r}; one of {', '.join(PRIORS)}")

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
        #: Logistic coefficients of ``config.prior`` (intercept first), fitted by :meth:`fit`.
        self.prior_coef: np.ndarray | None = None
        #: The boosters compiled to native code (:meth:`compile`), used by :meth:`predict` when set.
        self.compiled: list[Forest] | None = None
        #: The cache files ``compiled`` came from: a pickled copy (a Ray actor's) loads them again.
        self._compiled_from: list[Path] | None = None

    def _prior_inputs(self, features: np.ndarray) -> np.ndarray:
        """float64 ``(m, 1 + k)``: a column of ones, then the prior's ``k`` transformed feature columns."""
        spec = PRIORS[self.config.prior or ""]
        out = np.ones((features.shape[0], 1 + len(spec)))
        for j, (name, transform) in enumerate(spec, start=1):
            column = features[:, self.feature_names.index(name)].astype(np.float64)
            out[:, j] = np.log1p(np.maximum(column, 0.0)) if transform == "log1p" else column
        return out

    def prior(self, features: np.ndarray) -> np.ndarray | None:
        """float64 ``(m,)``: the prior's raw score of each row (``None`` without a fitted prior)."""
        if self.prior_coef is None:
            return None
        out: np.ndarray = self._prior_inputs(features) @ self.prior_coef
        return out

    def _fit_prior(self, ex: Examples) -> None:
        """Logistic regression (Newton, a light ridge on the slopes) of the labels on the prior's inputs."""
        x = self._prior_inputs(ex.features)
        y = ex.labels.astype(np.float64)
        rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6)) if y.shape[0] else 0.5
        coef = np.zeros(x.shape[1])
        coef[0] = np.log(rate / (1 - rate))
        ridge = np.full(x.shape[1], 1e-3 * max(x.shape[0], 1))
        ridge[0] = 1e-9
        for _ in range(50):
            p = 1.0 / (1.0 + np.exp(-(x @ coef)))
            grad = x.T @ (p - y) + ridge * coef
            hess = (x * (p * (1 - p))[:, None]).T @ x + np.diag(ridge)
            step = np.linalg.solve(hess, grad)
            coef -= step
            if np.abs(step).max() < 1e-8:
                break
        self.prior_coef = coef

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
            init_score=self.prior(ex.features),
            feature_name=list(self.feature_names),
            reference=reference,
            free_raw_data=False,
        )

    def fit(self, train: Examples, valid: Examples | None = None, rounds: int | None = None) -> int:
        """Train on ``train``; with ``valid``, stop early on it. Returns the number of rounds kept (with
        several bags: their median, which every booster then uses)."""
        self.prior_coef = None
        if self.config.prior is not None:
            self._fit_prior(train)
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
        """float64 ``(m,)`` scores for float32 ``(m, f)`` features (mean over the bags): what LightGBM's
        ``predict`` gives (the sigmoid for ``binary``), of the boosters' raw score plus the prior's."""
        if not self.boosters:
            raise RuntimeError("predict() called before fit()")
        prior = self.prior(features)
        if prior is not None:
            raw: np.ndarray = prior + self._raw(features)
            if self.config.objective == "binary":
                linked: np.ndarray = 1.0 / (1.0 + np.exp(-raw))
                return linked
            return raw
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

    def _raw(self, features: np.ndarray) -> np.ndarray:
        """float64 ``(m,)``: the boosters' raw scores (no link function, no prior), mean over the bags."""
        total = np.zeros(features.shape[0])
        if self.compiled is not None:  # compiled with ``raw_score`` when there is a prior
            data = np.ascontiguousarray(features, dtype=np.float64)
            for forest in self.compiled:
                total += forest.predict(data, n_jobs=self.config.threads)
            return total / len(self.compiled)
        for booster in self.boosters:
            total += booster.predict(
                features,
                num_iteration=self.best_rounds or None,
                num_threads=self.config.threads,
                raw_score=True,
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
        raw = self.prior_coef is not None
        self.compiled = compile_boosters(self.model_texts(), paths, build=build, raw_score=raw)
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
            raw = self.__dict__.setdefault("prior_coef", None) is not None
            self.compiled = compile_boosters(self.model_texts(), list(files), build=False, raw_score=raw)

    @property
    def booster(self) -> Any:
        """The first bag's LightGBM booster, ``None`` before :meth:`fit`."""
        return self.boosters[0] if self.boosters else None

    def contributions(self, features: np.ndarray) -> np.ndarray:
        """float64 ``(m, f)``: each feature's SHAP contribution to each row's score (mean over the bags; the
        boosters' raw score only: a prior's part is not attributed)."""
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
            "prior_coef": None if self.prior_coef is None else self.prior_coef.tolist(),
        }
        path.write_text(json.dumps(body))

    @classmethod
    def load(cls, path: Path) -> Ranker:
        """The ranker :meth:`save` wrote to ``path``."""
        body = json.loads(path.read_text())
        ranker = cls(tuple(body["feature_names"]), RankerConfig(**body["config"]))
        ranker.boosters = [lgb.Booster(model_str=text) for text in body["boosters"]]
        ranker.best_rounds = int(body["best_rounds"])
        coef = body.get("prior_coef")
        ranker.prior_coef = None if coef is None else np.asarray(coef, dtype=np.float64)
        return ranker
