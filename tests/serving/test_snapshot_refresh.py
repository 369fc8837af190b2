"""Snapshot refresh in the server (issue 8): after new events land in the home, a refresh re-states the
loaded version on them, so real-time lists see new users, new friends and the friends they bring.

One simulated home (300 users, 60 days) trained with the tiny pipeline, served in real-time mode with a
:class:`SnapshotRefresher` driven by hand.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from _tiny import TINY_PIPELINE as TINY
from pymk.config import Settings, load_settings
from pymk.errors import NotFound
from pymk.io.graph_apply import load_graph
from pymk.io.importer import import_file
from pymk.models.bundle import config_from_dict
from pymk.serving.bootstrap import build_service
from pymk.serving.lifecycle import LoadedModel
from pymk.serving.refresh import SnapshotBase, SnapshotRefresher, read_home, restate
from pymk.serving.service import RecommendationService
from pymk.sim import SimConfig, simulate, write_jsonl
from pymk.training.tracking import MemoryTracker
from pymk.training.train import train_home

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated"),
]

LATER = SimConfig(users=300, days=60).end_ts + 3600


@dataclass(frozen=True)
class Home:
    root: Path
    settings: Settings
    version: str


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    root = tmp_path_factory.mktemp("snapshot-refresh")
    events = root / "events.jsonl"
    write_jsonl(simulate(SimConfig(users=300, days=60, seed=1)), events)
    settings = load_settings(
        home=root / "home", tracking_url="memory://", serving_mode="realtime", realtime_budget_ms=60_000
    )
    import_file(events, "events-jsonl", settings)
    result = train_home(settings, config=config_from_dict(TINY), tracker=MemoryTracker())
    assert result.promoted
    return Home(root, settings, result.version)


def _import(home: Home, name: str, events: list[dict[str, object]]) -> None:
    path = home.root / f"{name}.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    import_file(path, "events-jsonl", home.settings)


def _items(service: RecommendationService, user: str, k: int = 20) -> list[str]:
    found = service.one(user, k)
    return [d["user_id"] for d in found.item_dicts()]


def _control(service: RecommendationService) -> LoadedModel:
    assert service.models is not None
    model = service.models.routing.control
    assert model is not None
    return model


def test_refresh_brings_new_users_friends_and_their_friends(home: Home) -> None:
    service = build_service(home.settings)
    try:
        refresher = SnapshotRefresher(service.models, home.settings.home, 60.0)  # type: ignore[arg-type]
        before = _control(service)
        assert refresher.refresh() == 1  # the bundle's snapshot -> the home's (the same data so far)
        first = _control(service)
        assert first is not before and first.version == home.version and first.rows == before.rows
        assert first.as_of >= before.as_of and refresher.refresh() == 0  # nothing changed: no work
        ids = list(first.user_ids)
        graph = load_graph(home.settings.home)
        user = max(range(len(ids)), key=lambda i: graph.neighbors(i).shape[0])
        uid = ids[user]
        old = _items(service, uid)
        friend = old[0]  # the top suggestion; connecting to it must take it off the list
        _import(
            home,
            "late",
            [
                {"event_id": "late-1", "ts": LATER, "type": "connect", "actor": uid, "target": friend},
                {"event_id": "late-2", "ts": LATER + 1, "type": "connect", "actor": "newbie", "target": uid},
            ],
        )
        # Without a refresh the served state is as of the last read: the new user is unknown and the
        # new friend is still suggested (nothing fed the fresh-exclusion source in this test).
        with pytest.raises(NotFound):
            service.one("newbie", 20)
        assert friend in _items(service, uid)
        assert refresher.refresh() == 1
        now = _control(service)
        assert now.version == home.version and now.as_of > first.as_of
        assert now.rows == first.rows + 2 and len(now.user_ids) == len(ids) + 1
        assert list(now.user_ids[: len(ids)]) == ids  # known users keep their indices
        assert service.snapshots()[0]["rows"] == now.rows
        fresh = _items(service, uid)
        assert friend not in fresh and "newbie" not in fresh and uid not in fresh
        # The new user's list exists now; its candidates are friends of its one friend: pairs that only
        # the new events created.
        found = service.one("newbie", 20)
        assert found.model_version == home.version and found.source == "realtime"
        newbie = [d["user_id"] for d in found.item_dicts()]
        after = list(now.user_ids)
        friends_of_user = {after[int(v)] for v in load_graph(home.settings.home).neighbors(user).tolist()}
        assert uid not in newbie and "newbie" not in newbie
        mutual = [d for d in found.item_dicts() if d["reasons"].get("mutual_connections")]
        assert mutual and {d["user_id"] for d in mutual} <= friends_of_user
        assert friend in friends_of_user
    finally:
        service.close()


def test_refresh_during_requests_never_errs_or_mixes_versions(home: Home) -> None:
    service = build_service(home.settings)
    try:
        refresher = SnapshotRefresher(service.models, home.settings.home, 60.0)  # type: ignore[arg-type]
        ids = list(_control(service).user_ids)
        rng = np.random.default_rng(0)
        users = [ids[int(i)] for i in rng.choice(len(ids), 40, replace=False)]
        errors: list[BaseException] = []
        versions: set[str] = set()
        answered = [0]
        stop = threading.Event()

        def hammer() -> None:
            while not stop.is_set():
                for user in users:
                    try:
                        found = service.batch([user, "nobody-at-all"], 10)
                        lst = found[0]
                        if not isinstance(lst, NotFound):
                            versions.add(lst.model_version)
                            answered[0] += 1
                        assert isinstance(found[1], NotFound)
                    except BaseException as exc:  # noqa: BLE001 - any failure is the finding
                        errors.append(exc)

        threads = [threading.Thread(target=hammer) for _ in range(2)]
        for t in threads:
            t.start()
        published = 0
        for step in range(3):
            a, b = ids[step], ids[-1 - step]
            ev = {
                "event_id": f"conc-{step}",
                "ts": LATER + 100 + step,
                "type": "connect",
                "actor": a,
                "target": b,
            }
            _import(home, f"conc-{step}", [ev])
            published += refresher.refresh()
        time.sleep(0.2)
        stop.set()
        for t in threads:
            t.join(30)
        assert not errors, errors[:3]
        assert published == 3 and versions == {home.version} and answered[0] > 0
    finally:
        service.close()


def test_refresh_is_refused_when_lightgcn_vectors_do_not_cover_the_users(home: Home) -> None:
    service = build_service(home.settings)
    try:
        model = _control(service)
        assert isinstance(model.base, SnapshotBase)
        state = read_home(home.settings.home)
        narrow = replace(model, base=replace(model.base, gnn=np.zeros((3, 4), dtype=np.float32)))
        assert restate(narrow, state) is None
        assert restate(replace(model, base=None), state) is None
        assert restate(model, state) is not None
    finally:
        service.close()
