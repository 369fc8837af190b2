"""Drift statistics and the per-feature / dataset verdict of ``pymk monitor``.

Tests, thresholds and the way one is chosen follow Evidently's defaults (its ``DataDriftPreset``):

- **numeric** features: ``auto`` uses the two-sample Kolmogorov–Smirnov test (drift when p < 0.05) when the
  reference sample has at most 1000 values, and the *normed* Wasserstein distance (the earth mover's
  distance divided by the reference's standard deviation; drift when >= 0.1) above — with large samples
  every tiny difference is "significant", so a distance with a practical threshold takes over.
  ``psi`` (population stability index over 10 reference-quantile bins, empty bins floored at 1e-4 as
  Evidently does; drift when >= 0.1) can be chosen instead;
- **categorical** features: ``auto`` uses Pearson's chi-square test of the current counts against the
  reference shares (drift when p < 0.05) up to 1000 reference observations and the Jensen–Shannon
  distance (natural log, as Evidently's ``scipy.spatial.distance.jensenshannon`` call; in [0, sqrt(ln 2)];
  drift when >= 0.1) above;
- **dataset drift** when the share of drifted features is at least 0.5 — counted over the feature
  *groups* that vote (``drift_verdict_groups``, default ``data`` only; every feature is still compared
  and reported):

  - ``data``: the stream itself — ``new_user``, ``activity``, ``degree``, ``event_type``;
  - ``prediction``: ``score``, the ranker scores of the served top-k;
  - ``features``: ``feature:<name>``, the ranker's pair features.

  Why only ``data`` votes by default: on a simulated stream with *no* change of the generator, the pair
  features one week after training drifted by Evidently's thresholds in 38-54% of cases (candidate
  degrees and activity counts grow with the graph: a growing network is not stationary in them), so
  letting them vote would page on every retrain cycle; the stream statistics stayed far below their
  thresholds (normed Wasserstein <= 0.063, JS distance <= 0.03 over 20 seeds) and detect the change of
  new-user share and activity every time (tests/monitoring/test_drift_sim.py). Add ``prediction`` and
  ``features`` once their week-to-week variation on real traffic is known.

Every threshold and both method choices come from :class:`~pymk.config.Settings` (``drift_*``).
Statistics use SciPy (``ks_2samp``, ``wasserstein_distance``, ``chisquare``, ``jensenshannon``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon

from pymk.config import Settings
from pymk.errors import InvalidInput

Kind = Literal["numeric", "categorical"]
Group = Literal["data", "prediction", "features"]
#: Name prefix of the ranker's pair features in a profile (group ``features``).
FEATURE_PREFIX = "feature:"
#: Name of the served top-k ranker scores in a profile (group ``prediction``).
SCORE = "score"
#: Statistics whose *small* values mean drift (p-values); every other one drifts when large.
P_VALUES = frozenset({"ks", "chisquare"})
PSI_BINS = 10
PSI_FLOOR = 1e-4
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0, "w": 604_800.0}
_WINDOW = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_window(text: str) -> float:
    """``"24h"`` → 86400.0 seconds (units s, m, h, d, w); :class:`InvalidInput` naming the text otherwise."""
    match = _WINDOW.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise InvalidInput(f"window must be a positive duration like 30m, 24h or 7d, got {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


# --- the statistics --------------------------------------------------------------------------------


def ks_pvalue(reference: np.ndarray, current: np.ndarray) -> float:
    """p-value of the two-sided two-sample Kolmogorov–Smirnov test (1.0: same distribution is likely)."""
    return float(stats.ks_2samp(reference, current).pvalue)


def wasserstein_normed(reference: np.ndarray, current: np.ndarray) -> float:
    """Wasserstein-1 distance between the samples divided by the reference's (population) std.

    A constant reference (std 0) gives 0 when the current sample equals that constant and ``inf`` else.
    """
    distance = float(stats.wasserstein_distance(reference, current))
    std = float(np.std(reference))
    if std == 0.0:
        return 0.0 if distance == 0.0 else float("inf")
    return distance / std


def psi(reference: np.ndarray, current: np.ndarray, bins: int = PSI_BINS) -> float:
    """Population stability index ``sum (r - c) ln(r / c)`` over ``bins`` reference-quantile bins.

    Bin shares below :data:`PSI_FLOOR` are raised to it (an empty bin would give an infinite PSI).
    Tied quantiles merge bins, so a reference with few distinct values gets fewer bins.
    """
    edges = np.unique(np.quantile(reference, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    r = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=edges.size + 1)
    c = np.bincount(np.searchsorted(edges, current, side="right"), minlength=edges.size + 1)
    rs = np.maximum(r / max(r.sum(), 1), PSI_FLOOR)
    cs = np.maximum(c / max(c.sum(), 1), PSI_FLOOR)
    return float(np.sum((rs - cs) * np.log(rs / cs)))


def chisquare_pvalue(reference: Mapping[str, int], current: Mapping[str, int]) -> float:
    """p-value of Pearson's chi-square test of the current counts against the reference shares.

    Categories absent from both are ignored; a category the reference never saw but the current
    window holds is certain drift (p = 0). Evidently's test, with the same expected counts
    (reference counts scaled to the current total).
    """
    keys = sorted(k for k in set(reference) | set(current) if reference.get(k, 0) or current.get(k, 0))
    observed = np.array([current.get(k, 0) for k in keys], dtype=np.float64)
    ref = np.array([reference.get(k, 0) for k in keys], dtype=np.float64)
    if observed.sum() == 0 or ref.sum() == 0:
        return float("nan")
    if np.any((ref == 0) & (observed > 0)):
        return 0.0
    keep = ref > 0
    if keep.sum() < 2:
        return 1.0  # one category on both sides: nothing can differ
    expected = ref[keep] * observed.sum() / ref.sum()
    return float(stats.chisquare(observed[keep], expected).pvalue)


def js_distance(reference: Mapping[str, int], current: Mapping[str, int]) -> float:
    """Jensen–Shannon distance (natural log) between the two category distributions, in [0, 0.833]."""
    keys = sorted(set(reference) | set(current))
    p = np.array([reference.get(k, 0) for k in keys], dtype=np.float64)
    q = np.array([current.get(k, 0) for k in keys], dtype=np.float64)
    if p.sum() == 0 or q.sum() == 0:
        return float("nan")
    return float(jensenshannon(p / p.sum(), q / q.sum()))


# --- per feature and per data set -------------------------------------------------------------------


@dataclass(frozen=True)
class DriftConfig:
    """The methods and thresholds of one comparison (see the module docstring for the defaults)."""

    num_method: Literal["auto", "ks", "wasserstein", "psi"] = "auto"
    cat_method: Literal["auto", "chisquare", "jensenshannon"] = "auto"
    small_sample: int = 1000
    ks_pvalue: float = 0.05
    chisquare_pvalue: float = 0.05
    wasserstein: float = 0.1
    psi: float = 0.1
    jensenshannon: float = 0.1
    share: float = 0.5
    groups: tuple[Group, ...] = ("data",)

    @classmethod
    def from_settings(cls, settings: Settings) -> DriftConfig:
        """The ``drift_*`` settings."""
        return cls(
            num_method=settings.drift_num_method,
            cat_method=settings.drift_cat_method,
            small_sample=settings.drift_small_sample,
            ks_pvalue=settings.drift_ks_pvalue,
            chisquare_pvalue=settings.drift_chisquare_pvalue,
            wasserstein=settings.drift_wasserstein,
            psi=settings.drift_psi,
            jensenshannon=settings.drift_jensenshannon,
            share=settings.drift_share,
            groups=tuple(settings.drift_verdict_groups),
        )


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's comparison: ``stat`` is ks, wasserstein, psi, chisquare or jensenshannon;
    ``drifted`` is ``value < threshold`` for p-values (:data:`P_VALUES`), ``value >= threshold`` else."""

    name: str
    kind: Kind
    stat: str
    value: float
    threshold: float
    drifted: bool

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "kind", "stat", "value", "threshold", "drifted"}`` (inf as a large number: JSON has no
        infinity)."""
        value = self.value if np.isfinite(self.value) else 1e308
        return {
            "name": self.name,
            "kind": self.kind,
            "stat": self.stat,
            "value": value,
            "threshold": self.threshold,
            "drifted": self.drifted,
        }


def numeric_drift(name: str, reference: np.ndarray, current: np.ndarray, config: DriftConfig) -> FeatureDrift:
    """Compare two non-empty numeric samples with ``config.num_method`` (auto: by reference size)."""
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    method = config.num_method
    if method == "auto":
        method = "ks" if ref.shape[0] <= config.small_sample else "wasserstein"
    if method == "ks":
        value = ks_pvalue(ref, cur)
        return FeatureDrift(name, "numeric", "ks", value, config.ks_pvalue, value < config.ks_pvalue)
    if method == "psi":
        value = psi(ref, cur)
        return FeatureDrift(name, "numeric", "psi", value, config.psi, value >= config.psi)
    value = wasserstein_normed(ref, cur)
    limit = config.wasserstein
    return FeatureDrift(name, "numeric", "wasserstein", value, limit, value >= limit)


def categorical_drift(
    name: str, reference: Mapping[str, int], current: Mapping[str, int], config: DriftConfig
) -> FeatureDrift:
    """Compare two category-count tables with ``config.cat_method`` (auto: by reference total)."""
    method = config.cat_method
    if method == "auto":
        method = "chisquare" if sum(reference.values()) <= config.small_sample else "jensenshannon"
    if method == "chisquare":
        value = chisquare_pvalue(reference, current)
        limit = config.chisquare_pvalue
        return FeatureDrift(name, "categorical", "chisquare", value, limit, value < limit)
    value = js_distance(reference, current)
    limit = config.jensenshannon
    return FeatureDrift(name, "categorical", "jensenshannon", value, limit, value >= limit)


def group_of(name: str) -> Group:
    """The group of a profile feature name (see the module docstring)."""
    if name.startswith(FEATURE_PREFIX):
        return "features"
    return "prediction" if name == SCORE else "data"


@dataclass(frozen=True)
class DatasetDrift:
    """Per-feature results (every feature compared) and the verdict: ``share_drifted`` is the share of
    drifted features among the voting groups, ``drifted`` when it reaches the configured share;
    ``group_shares`` gives each group's share of drifted features (voting or not)."""

    features: tuple[FeatureDrift, ...]
    share_drifted: float
    drifted: bool
    skipped: tuple[str, ...] = ()
    group_shares: tuple[tuple[str, float], ...] = ()


def dataset_drift(
    numeric: Sequence[tuple[str, np.ndarray, np.ndarray]],
    categorical: Sequence[tuple[str, Mapping[str, int], Mapping[str, int]]],
    config: DriftConfig,
) -> DatasetDrift:
    """Compare every ``(name, reference, current)``; a feature with an empty side is skipped (named in
    ``skipped``, not counted). With no voting feature compared the share is 0 and there is no drift."""
    results: list[FeatureDrift] = []
    skipped: list[str] = []
    for name, ref, cur in numeric:
        if np.asarray(ref).size == 0 or np.asarray(cur).size == 0:
            skipped.append(name)
            continue
        results.append(numeric_drift(name, ref, cur, config))
    for name, ref_counts, cur_counts in categorical:
        if not sum(ref_counts.values()) or not sum(cur_counts.values()):
            skipped.append(name)
            continue
        results.append(categorical_drift(name, ref_counts, cur_counts, config))
    order: tuple[Group, ...] = ("data", "prediction", "features")
    results.sort(key=lambda r: order.index(group_of(r.name)))  # stable: input order within a group
    voting = [r for r in results if group_of(r.name) in config.groups]
    share = sum(r.drifted for r in voting) / len(voting) if voting else 0.0
    shares = []
    for group in order:
        members = [r for r in results if group_of(r.name) == group]
        if members:
            shares.append((group, sum(r.drifted for r in members) / len(members)))
    verdict = bool(voting) and share >= config.share
    return DatasetDrift(tuple(results), share, verdict, tuple(skipped), tuple(shares))
