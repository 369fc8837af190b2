"""The drift statistics against cases small enough to compute by hand, and the Evidently-style choice."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pymk.config import Settings
from pymk.errors import InvalidInput
from pymk.monitoring.drift import (
    PSI_FLOOR,
    DriftConfig,
    categorical_drift,
    chisquare_pvalue,
    dataset_drift,
    js_distance,
    ks_pvalue,
    numeric_drift,
    parse_window,
    psi,
    wasserstein_normed,
)

pytestmark = pytest.mark.unit


def test_ks_identical_and_disjoint() -> None:
    a = np.arange(10.0)
    assert ks_pvalue(a, a.copy()) == pytest.approx(1.0)
    # D = 1 with n = m = 10: the exact two-sided p-value is 2 / C(20, 10).
    assert ks_pvalue(a, a + 100) == pytest.approx(2 / math.comb(20, 10), rel=1e-6)


def test_wasserstein_normed_shift_by_one() -> None:
    ref = np.array([0.0, 1.0, 2.0, 3.0])
    # Shifting every value by 1 moves all mass by 1: W = 1; population std of 0..3 is sqrt(1.25).
    assert wasserstein_normed(ref, ref + 1) == pytest.approx(1 / math.sqrt(1.25))
    assert wasserstein_normed(ref, ref[::-1]) == 0.0
    assert wasserstein_normed(np.ones(3), np.ones(2)) == 0.0
    assert wasserstein_normed(np.ones(3), np.array([1.0, 2.0])) == math.inf


def test_psi_uniform_against_one_bin() -> None:
    ref = np.arange(1000.0)  # ten decile bins of 0.1 each
    assert psi(ref, ref.copy()) == pytest.approx(0.0, abs=1e-12)
    cur = np.full(50, 5.0)  # all in the first bin; the other nine are floored
    expected = (0.1 - 1.0) * math.log(0.1 / 1.0) + 9 * (0.1 - PSI_FLOOR) * math.log(0.1 / PSI_FLOOR)
    assert psi(ref, cur) == pytest.approx(expected)


def test_chisquare_hand_case() -> None:
    # Expected 50/50, observed 60/40: chi2 = 4 with one degree of freedom -> p = erfc(sqrt(2)).
    assert chisquare_pvalue({"a": 50, "b": 50}, {"a": 60, "b": 40}) == pytest.approx(math.erfc(math.sqrt(2)))
    # Scaling: the reference's shares matter, not its total.
    assert chisquare_pvalue({"a": 500, "b": 500}, {"a": 60, "b": 40}) == pytest.approx(
        math.erfc(math.sqrt(2))
    )
    assert chisquare_pvalue({"a": 10}, {"a": 5, "new": 1}) == 0.0


def test_js_distance_hand_cases() -> None:
    assert js_distance({"a": 3}, {"b": 7}) == pytest.approx(math.sqrt(math.log(2)))
    assert js_distance({"a": 1, "b": 1}, {"a": 5, "b": 5}) == pytest.approx(0.0, abs=1e-12)
    p, q = (0.2, 0.8), (0.4, 0.6)
    m = [(x + y) / 2 for x, y in zip(p, q, strict=True)]

    def kl(u: tuple[float, float]) -> float:
        return sum(a * math.log(a / b) for a, b in zip(u, m, strict=True))

    want = math.sqrt((kl(p) + kl(q)) / 2)
    assert js_distance({"new": 2, "old": 8}, {"new": 4, "old": 6}) == pytest.approx(want)
    assert want > 0.1  # doubling a 20% share is past Evidently's threshold


def test_auto_method_switches_at_the_small_sample_size() -> None:
    config = DriftConfig()
    rng = np.random.default_rng(0)
    small, large = rng.normal(size=1000), rng.normal(size=1001)
    assert numeric_drift("x", small, small + 5, config).stat == "ks"
    shifted = numeric_drift("x", large, large + 5, config)
    assert (shifted.stat, shifted.drifted) == ("wasserstein", True)
    assert not numeric_drift("x", large, large + 0.01, config).drifted
    assert numeric_drift("x", large, large, DriftConfig(num_method="psi")).stat == "psi"
    assert categorical_drift("c", {"a": 600, "b": 400}, {"a": 6, "b": 4}, config).stat == "chisquare"
    js = categorical_drift("c", {"a": 600, "b": 401}, {"a": 6, "b": 4}, config)
    assert (js.stat, js.drifted) == ("jensenshannon", False)


def test_thresholds_come_from_settings() -> None:
    settings = Settings(drift_wasserstein=0.5, drift_share=0.25, drift_num_method="psi")
    config = DriftConfig.from_settings(settings)
    assert (config.wasserstein, config.share, config.num_method) == (0.5, 0.25, "psi")


def test_dataset_verdict_is_the_share_of_drifted_features() -> None:
    config = DriftConfig()
    a = np.arange(50.0)
    same = ("same", a, a.copy())
    moved = ("moved", a, a + 100)
    # Data features (no prefix) vote by default; ranker features and the score are reported only.
    one_of_two = dataset_drift([same, moved], [], config)
    assert one_of_two.share_drifted == 0.5 and one_of_two.drifted
    one_of_three = dataset_drift([same, moved, ("same2", a, a.copy())], [], config)
    assert one_of_three.share_drifted == pytest.approx(1 / 3) and not one_of_three.drifted
    empty = dataset_drift([("empty", a, np.empty(0))], [("cat", {"a": 1}, {})], config)
    assert empty.skipped == ("empty", "cat") and not empty.drifted and empty.features == ()


@pytest.mark.parametrize(("text", "seconds"), [("24h", 86_400.0), ("30m", 1800.0), ("1.5d", 129_600.0)])
def test_parse_window(text: str, seconds: float) -> None:
    assert parse_window(text) == seconds


@pytest.mark.parametrize("text", ["", "24", "h", "-1h", "0h", "3y"])
def test_parse_window_rejects(text: str) -> None:
    with pytest.raises(InvalidInput, match="window"):
        parse_window(text)


def test_only_the_voting_groups_decide() -> None:
    a = np.arange(50.0)
    numeric = [
        ("activity", a, a.copy()),
        ("score", a, a + 100),
        ("feature:cn", a, a + 100),
        ("feature:aa", a, a + 100),
    ]
    default = dataset_drift(numeric, [], DriftConfig())
    assert not default.drifted and default.share_drifted == 0.0
    assert dict(default.group_shares) == {"data": 0.0, "prediction": 1.0, "features": 1.0}
    assert [f.drifted for f in default.features] == [False, True, True, True]  # all reported
    everything = dataset_drift(numeric, [], DriftConfig(groups=("data", "prediction", "features")))
    assert everything.drifted and everything.share_drifted == 0.75
