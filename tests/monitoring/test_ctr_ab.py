"""Issue 6 "done when": CTR per model version on a simulated A/B split where one version is known better.

Two versions sit behind the server's A/B hash split (:class:`~pymk.serving.lifecycle.Routing`): "good"
ranks each viewer's true future connections (from the simulator's later connects) first, "bad" ranks the
same candidates at random. :mod:`pymk.sim.feedback` turns the served lists into impressions, clicks and
connects; the report must equal the counts this test makes itself from the raw events, and separate
the two versions with non-overlapping confidence intervals.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, cast

import numpy as np
import orjson
import pyarrow as pa
import pytest

from pymk.monitoring.ctr import ALL_SOURCES, DAY, UNATTRIBUTED, ctr_report
from pymk.serving.lifecycle import LoadedModel, Routing
from pymk.sim import SimConfig, simulate
from pymk.sim.feedback import FeedbackConfig, ServedList, as_events, future_pairs, simulate_feedback

pytestmark = pytest.mark.unit
K = 10
WINDOW = 7 * DAY


def _model(version: str) -> LoadedModel:
    return LoadedModel(version, cast(Any, None), [], 0.0, {"-": 0})


@pytest.fixture(scope="module")
def ab() -> tuple[list[ServedList], set[frozenset[str]], pa.Table]:
    """Lists of 600 viewers (two requests each, a day apart) split 50/50, their truth and feedback.

    Viewers are served a minute apart, so no two showings of a pair share a time (last touch has no tie).
    """
    sim = simulate(SimConfig(users=3_000, avg_degree=10, days=60, epochs=20, seed=11)).to_arrow()
    ts = sim.column("ts").to_numpy()
    cut = float(ts.min() + 0.75 * (ts.max() - ts.min()))
    truth = future_pairs(sim, cut)
    partners: dict[str, set[str]] = defaultdict(set)
    for pair in truth:
        a, b = sorted(pair)
        partners[a].add(b)
        partners[b].add(a)
    users = np.array(sorted(set(sim.column("actor").to_pylist())))
    viewers = sorted(partners)[:600]
    routing = Routing(control=_model("good"), challenger=_model("bad"), share=0.5)
    rng = np.random.default_rng(5)
    lists = []
    for n, viewer in enumerate(viewers):
        version = cast(LoadedModel, routing.model_for(viewer)).version
        others = [u for u in rng.choice(users, 40, replace=False).tolist() if u != viewer]
        pool = sorted(partners[viewer]) + [u for u in others if u not in partners[viewer]]
        for day in (0, 1):
            if version == "good":  # true future connections first
                ranked = pool[:K]
            else:
                ranked = [pool[i] for i in rng.permutation(len(pool))[:K]]
            source = "precomputed" if n % 3 else "realtime"
            lists.append(
                ServedList(
                    viewer, f"req-{n}-{day}", version, source, tuple(ranked), cut + day * DAY + n * 60.0
                )
            )
    config = FeedbackConfig(repeat_share=0.2, unattributed_share=0.1, connect_delay_s=3 * DAY, seed=3)
    return lists, truth, simulate_feedback(lists, truth, config)


def _independent_counts(events: list[dict[str, Any]]) -> dict[str, list[int]]:
    """(impressions, clicks, accepted) per version, counted here from the raw events, unattributed
    under UNATTRIBUTED (impressions and accepted only)."""
    seen: dict[tuple[str, str, str], str] = {}  # (request, viewer, target) -> version
    lone = 0
    touches: dict[frozenset[str], list[tuple[float, Any]]] = defaultdict(list)
    for e in events:
        if e["type"] != "impression":
            continue
        p = e["props"]
        key: Any = (p["request_id"], e["actor"], e["target"]) if p else ("lone", e["event_id"])
        if p:
            seen.setdefault(key, p["model_version"])
        else:
            lone += 1
        touches[frozenset((e["actor"], e["target"]))].append((e["ts"], key))
    clicked = {
        (e["props"]["request_id"], e["actor"], e["target"])
        for e in events
        if e["type"] == "click" and e["props"]
    } & set(seen)
    accepted = set()
    for e in events:
        if e["type"] == "connect":
            before = [
                (t, key)
                for t, key in touches[frozenset((e["actor"], e["target"]))]
                if 0 <= e["ts"] - t <= WINDOW
            ]
            if before:
                accepted.add(max(before, key=lambda tk: tk[0])[1])
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for key, version in seen.items():
        out[version][0] += 1
        out[version][1] += key in clicked
        out[version][2] += key in accepted
    out[UNATTRIBUTED] = [lone, 0, sum(1 for key in accepted if key[0] == "lone")]
    return out


def test_ctr_per_version_matches_the_events_and_ranks_the_better_version_first(
    ab: tuple[list[ServedList], set[frozenset[str]], pa.Table],
) -> None:
    lists, truth, feedback = ab
    assert {s.model_version for s in lists} == {"good", "bad"}  # both arms of the hash split served
    events = as_events(feedback)
    expected = _independent_counts(events)
    report = ctr_report(feedback, window_s=WINDOW)
    for version in ("good", "bad"):
        row = report.total(version)
        assert row is not None
        assert [row.impressions, row.clicks, row.accepted] == expected[version], version
        assert row.ctr is not None and row.ctr == row.clicks / row.impressions
    lone = report.total(UNATTRIBUTED, UNATTRIBUTED)
    assert lone is not None and [lone.impressions, lone.accepted] == [
        expected[UNATTRIBUTED][i] for i in (0, 2)
    ]
    assert lone.clicks == sum(1 for e in events if e["type"] == "click" and not e["props"])
    good, bad = report.total("good"), report.total("bad")
    assert good is not None and bad is not None
    assert good.ctr_low is not None and bad.ctr_high is not None and good.ctr_low > bad.ctr_high
    assert good.acceptance_low is not None and bad.acceptance_high is not None
    assert good.acceptance_low > bad.acceptance_high
    # Per source, the rows add up to the version's total; the daily series adds up to the totals.
    for version in ("good", "bad"):
        parts = [r for r in report.totals if r.model_version == version]
        assert {r.source for r in parts} == {"precomputed", "realtime"} and ALL_SOURCES not in {
            r.source for r in parts
        }
        assert sum(r.impressions for r in parts) == report.total(version).impressions  # type: ignore[union-attr]
        series = [r for r in report.series if r.model_version == version]
        assert sum(r.clicks for r in series) == report.total(version).clicks  # type: ignore[union-attr]
    assert report.unmatched_clicks == 0


def test_replayed_feedback_changes_nothing(
    ab: tuple[list[ServedList], set[frozenset[str]], pa.Table],
) -> None:
    feedback = ab[2]
    once = ctr_report(feedback)
    assert ctr_report(pa.concat_tables([feedback, feedback.slice(0, len(feedback) // 2)])) == once


def test_feedback_is_deterministic_and_follows_the_truth(
    ab: tuple[list[ServedList], set[frozenset[str]], pa.Table],
) -> None:
    lists, truth, feedback = ab
    again = simulate_feedback(
        lists,
        truth,
        FeedbackConfig(repeat_share=0.2, unattributed_share=0.1, connect_delay_s=3 * DAY, seed=3),
    )
    assert again.equals(feedback)
    other = simulate_feedback(lists, truth, FeedbackConfig(seed=4))
    assert not other.equals(feedback)
    events = as_events(feedback)
    connects = [frozenset((e["actor"], e["target"])) for e in events if e["type"] == "connect"]
    assert len(connects) == len(set(connects))  # a pair connects once
    props = [e["props"] for e in events if e["type"] == "impression" and e["props"]]
    assert all(0 <= p["position"] < K for p in props)
    assert orjson.loads(orjson.dumps(events[0]))["event_id"].startswith("fb-3-")
