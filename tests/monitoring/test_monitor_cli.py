"""``pymk monitor`` end to end: a model trained on one simulated stream, then live homes holding an
unshifted stream of the same generator (quiet, exit 0) and a shifted one (flagged, exit 1)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from sim_streams import REFERENCE_SEED, config
from typer.testing import CliRunner

from _tiny import TINY_PIPELINE
from pymk.cli import app
from pymk.config import load_settings
from pymk.features.pairs import PAIR_FEATURES
from pymk.io.importer import import_file
from pymk.models.bundle import config_from_dict
from pymk.monitoring.monitor import read_history, run_monitor
from pymk.monitoring.profile import Profile
from pymk.monitoring.report import build_monitor_page
from pymk.sim import SimConfig, simulate, write_jsonl
from pymk.sim.feedback import FeedbackConfig, ServedList, as_events, simulate_feedback
from pymk.training.train import train_home

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
_ENV = ("PYMK_CONFIG", "PYMK_HOME", "PYMK_SEED", "PYMK_DRIFT_WINDOW", "PYMK_DRIFT_VERDICT_GROUPS")


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYMK_TRACKING_URL", "memory://")


def _import(home: Path, cfg: SimConfig) -> Path:
    events = home.parent / f"{home.name}.jsonl"
    write_jsonl(simulate(cfg), events)
    import_file(events, "events-jsonl", load_settings(home=home))
    return home


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A home trained on the reference stream; its profile covers the last 7 days."""
    with pytest.MonkeyPatch.context() as mp:
        for name in _ENV:
            mp.delenv(name, raising=False)
        mp.setenv("PYMK_TRACKING_URL", "memory://")
        home = _import(tmp_path_factory.mktemp("monitor") / "reference", config(REFERENCE_SEED))
        settings = load_settings(home=home, drift_window="7d", drift_sample_size=1500)
        train_home(settings, config=config_from_dict(TINY_PIPELINE))
        yield home


def _live(tmp_path: Path, reference: Path, shifted: bool) -> Path:
    """A home with a new stream (seed 1) serving the reference home's model."""
    home = _import(tmp_path / ("shifted" if shifted else "unshifted"), config(1, shifted=shifted))
    shutil.copytree(reference / "models", home / "models")
    return home


def monitor(home: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["monitor", "--home", str(home), *args])
    return result.exit_code, result.output


def test_the_trained_version_carries_its_profile(reference: Path) -> None:
    (version,) = [p for p in (reference / "models").iterdir() if p.name.startswith("v")]
    profile = Profile.load(version)
    assert profile.window.seconds == 7 * 86_400 and profile.sample_size == 1500
    assert {f"feature:{name}" for name in PAIR_FEATURES} <= set(profile.numeric)
    assert 0 < profile.numeric["score"].shape[0] <= 1500
    assert all(v.shape[0] <= 1500 for v in profile.numeric.values())
    assert set(profile.categorical) == {"event_type", "new_user"} and "activity" in profile.numeric
    manifest = json.loads((version / "manifest.json").read_text())
    assert "profile.json" in manifest["files"]


def test_an_unshifted_stream_is_quiet(tmp_path: Path, reference: Path) -> None:
    home = _live(tmp_path, reference, shifted=False)
    out = tmp_path / "out.json"
    code, text = monitor(home, "--json", str(out))
    assert code == 0, text
    assert "no drift" in text and "feature:c_deg" in text
    latest = json.loads((home / "monitoring" / "drift-latest.json").read_text())
    written = json.loads(out.read_text())
    assert written.pop("ctr")["impressions"] == 0 and written == latest  # --json: drift-latest.json + ctr
    assert "CTR: no impression events in the window" in text
    assert set(latest) >= {"generated_at", "model_version", "window", "drifted", "share_drifted", "features"}
    assert set(latest["window"]) == {"start", "end", "events"} and latest["window"]["events"] > 0
    assert latest["drifted"] is False and latest["share_drifted"] < 0.5
    for feature in latest["features"]:
        assert set(feature) == {"name", "kind", "stat", "value", "threshold", "drifted"}
    names = {f["name"] for f in latest["features"]}
    assert {"new_user", "activity", "degree", "event_type", "score", "feature:cn"} <= names
    assert len((home / "monitoring" / "drift-history.jsonl").read_text().splitlines()) == 1

    code, text = monitor(home, "--window", "3d")
    assert code in (0, 1) and "covers 7d, this window 3d" in text
    latest = json.loads((home / "monitoring" / "drift-latest.json").read_text())
    assert latest["window"]["events"] < written["window"]["events"]


def test_a_shifted_stream_is_flagged_and_reported(tmp_path: Path, reference: Path) -> None:
    home = _live(tmp_path, reference, shifted=True)
    access = tmp_path / "access.jsonl"
    lines = [
        {
            "ts": f"2026-11-27T14:{m:02d}:00.000Z",
            "level": "INFO",
            "endpoint": "/v1/recommendations",
            "latency_ms": 2.0 + m,
        }
        for m in range(30)
    ]
    access.write_text("\n".join(json.dumps(x) for x in lines) + '\n{"msg": "not a request"}\nplain text\n')
    code, text = monitor(home)
    assert code == 1, text
    report = tmp_path / "report.html"
    code, text = monitor(home, "--report", str(report), "--access-log", str(access))
    assert code == 1, text
    latest = json.loads((home / "monitoring" / "drift-latest.json").read_text())
    flagged = {f["name"] for f in latest["features"] if f["drifted"]}
    assert latest["drifted"] and {"new_user", "activity"} <= flagged
    assert len(read_history(load_settings(home=home))) == 2

    page = report.read_text()
    assert not re.search(r"https?://", page) and "<script" not in page
    # One plot each: drift per feature (all distances here), share and statistics over time, latency.
    assert page.count("<svg") == page.count("<figure>") == 4
    assert latest["model_version"] in page and "new_user" in page and "p99" in page
    assert "No CTR series given yet" in page


def test_ctr_hook_draws_one_line_per_version(tmp_path: Path, reference: Path) -> None:
    home = _live(tmp_path, reference, shifted=False)
    settings = load_settings(home=home)
    result = run_monitor(settings, record=False)
    assert not (home / "monitoring").exists()  # record=False writes nothing
    points = [(1.7e9 + 3600 * i, v, 0.01 * i) for i in range(5) for v in ("v0001-a", "v0002-b")]
    page = build_monitor_page(result, [], None, points).render()
    assert "v0001-a" in page and "v0002-b" in page and "No access log given" in page
    assert page.count("<svg") == 2  # drift per feature and CTR; no history, no access log


def test_usage_errors_exit_2(tmp_path: Path, reference: Path) -> None:
    empty = tmp_path / "empty"
    code, text = monitor(empty)
    assert code == 2 and "no active model version" in text
    code, text = monitor(reference, "--window", "soon")
    assert code == 2 and "window" in text
    code, text = monitor(reference, "--version", "v9999-x")
    assert code == 2 and "v9999-x" in text
    code, text = monitor(reference, "--access-log", str(tmp_path / "a.log"))
    assert code == 2 and "--report" in text
    code, text = monitor(reference, "--no-such-option")
    assert code == 2


def _served(
    users: list[str], version: str, first_true: bool, ts: float, rng: np.random.Generator
) -> ServedList:
    viewer, *items = (str(u) for u in rng.choice(users, 6, replace=False))
    return ServedList(viewer, f"r-{version}-{ts:.0f}-{viewer}", version, "precomputed", tuple(items), ts)


def _add_feedback(home: Path, end: float) -> tuple[pa.Table, float]:
    """Attributed feedback on lists of two versions: ``v-good``'s first item always connects later,
    ``v-bad``'s never. 30 lists per version two days before ``end`` (in the window), 10 more 20 days
    before (outside it). Returns the feedback and the time of its first in-window impression."""
    users = sorted({str(u) for u in simulate(config(1)).to_arrow().column("actor").to_pylist()})
    rng = np.random.default_rng(5)
    lists = [
        _served(users, version, version == "v-good", when + 60 * i, rng)
        for version in ("v-good", "v-bad")
        for when, n in ((end - 2 * 86_400, 30), (end - 20 * 86_400, 10))
        for i in range(n)
    ]
    truth = {frozenset((s.user_id, s.items[0])) for s in lists if s.model_version == "v-good"}
    feedback = simulate_feedback(
        lists,
        truth,
        FeedbackConfig(p_click_true=0.9, p_click_false=0.05, repeat_share=0.0, connect_delay_s=600),
    )
    path = home.parent / "feedback.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in as_events(feedback)))
    import_file(path, "events-jsonl", load_settings(home=home))
    return feedback, end - 2 * 86_400


def _counts(feedback: pa.Table, since: float) -> dict[str, tuple[int, int]]:
    """(impressions, clicks) per version from the events themselves (no repeats: one event each)."""
    out: dict[str, list[int]] = {}
    for row in feedback.to_pylist():
        if row["props"] is None or row["ts"] < since or row["type"] not in ("impression", "click"):
            continue
        acc = out.setdefault(json.loads(row["props"])["model_version"], [0, 0])
        acc[0 if row["type"] == "impression" else 1] += 1
    return {v: (i, c) for v, (i, c) in out.items()}


def test_ctr_per_version_and_source_over_the_window_and_the_log(tmp_path: Path, reference: Path) -> None:
    home = _live(tmp_path, reference, shifted=False)
    end = float(simulate(config(1)).to_arrow().column("ts").to_numpy().max())
    feedback, in_window = _add_feedback(home, end)
    out, report = tmp_path / "out.json", tmp_path / "report.html"
    code, text = monitor(home, "--json", str(out), "--report", str(report))
    body = json.loads(out.read_text())
    assert code == (1 if body["drifted"] else 0), text  # drift alone decides the exit status
    ctr = body["ctr"]
    assert ctr["scope"] == "window" and ctr["bucket_s"] == 86_400  # a 7-day window: daily buckets
    since = datetime.fromisoformat(ctr["since"]).timestamp()
    assert end - 20 * 86_400 < since < in_window
    expected = _counts(feedback, since)
    versions = {r["model_version"]: r for r in ctr["versions"]}
    assert set(versions) == {"v-good", "v-bad"}
    for version, (impressions, clicks) in expected.items():
        row = versions[version]
        assert (row["impressions"], row["clicks"]) == (impressions, clicks) == (150, row["clicks"])
        assert row["ctr_low"] <= row["ctr"] == clicks / impressions <= row["ctr_high"]
        assert 0.0 <= row["acceptance_low"] <= row["acceptance"] <= row["acceptance_high"] <= 1.0
    assert versions["v-good"]["ctr"] > versions["v-bad"]["ctr"]
    assert {(r["model_version"], r["source"]) for r in ctr["totals"]} == {
        ("v-good", "precomputed"),
        ("v-bad", "precomputed"),
    }
    assert "CTR and acceptance over the window" in text and "v-good" in text and "precomputed" in text
    page = report.read_text()
    # Drift per feature, share and statistics over time, CTR over time.
    assert "No CTR series given yet" not in page and page.count("<svg") == 4

    code, text = monitor(home, "--json", str(out), "--ctr-all", "--ctr-bucket", "1h")
    ctr = json.loads(out.read_text())["ctr"]
    assert ctr["scope"] == "log" and ctr["since"] is None and ctr["bucket_s"] == 3600
    assert "over the whole log" in text
    everything = _counts(feedback, -1.0)
    assert (
        {r["model_version"]: r["impressions"] for r in ctr["versions"]}
        == {v: i for v, (i, _) in everything.items()}
        == {"v-good": 200, "v-bad": 200}
    )

    code, text = monitor(home, "--ctr-bucket", "often")
    assert code == 2 and "--ctr-bucket" in text
