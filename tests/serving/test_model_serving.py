"""A trained model behind the API: `pymk batch` lists, real time, hybrid fresh state, promote under load.

One simulated home (300 users, 60 days) is imported and trained with a tiny pipeline once per module;
then events arrive that the model never saw (a connect, a block, a deletion), and `pymk batch` must honour
them, as must every serving mode.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from serving_helpers import AsgiClient
from typer.testing import CliRunner

from _tiny import TINY_PIPELINE as TINY
from pymk.cli import app
from pymk.config import Settings, load_settings
from pymk.errors import NotFound
from pymk.io.graph_apply import load_graph
from pymk.io.importer import import_file
from pymk.models.bundle import config_from_dict, load_bundle
from pymk.registry import NewVersion, open_registry
from pymk.serving.batch import run_batch
from pymk.serving.bootstrap import build_service, load_model
from pymk.serving.fresh_fof import SnapshotGraph
from pymk.serving.http import create_app
from pymk.serving.lists import StoredList
from pymk.serving.lists_mmap import MmapListStore
from pymk.serving.model import REASON_NAMES, ModelRecommender
from pymk.serving.recommender import Recommender, TopK
from pymk.serving.service import RecommendationService
from pymk.sim import SimConfig, simulate, write_jsonl
from pymk.training.tracking import MemoryTracker
from pymk.training.train import train_home

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated"),
]


@dataclass(frozen=True)
class Home:
    settings: Settings
    version: str
    user_ids: list[str]
    user: str  # a user whose top three were changed by later events
    friend: str  # connected to ``user`` after training
    blocked: str  # blocked by ``user`` after training
    deleted: str  # deleted after training
    cold: str  # a known user without any connection


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    root = tmp_path_factory.mktemp("model-serving")
    events = root / "events.jsonl"
    write_jsonl(simulate(SimConfig(users=300, days=60, seed=0)), events)
    settings = load_settings(home=root / "home", tracking_url="memory://")
    import_file(events, "events-jsonl", settings)
    config = config_from_dict(TINY)
    result = train_home(settings, config=config, tracker=MemoryTracker())
    assert result.promoted
    version = open_registry(settings).get(result.version)
    bundle = load_bundle(version.path)
    assert bundle.user_ids is not None
    ids = bundle.user_ids
    untouched = ModelRecommender(bundle.pipeline, result.version)
    deg = bundle.pipeline.featurizer.snap.degree  # type: ignore[union-attr]
    user = int(np.argmax(deg))
    top = untouched.recommend(np.array([user]), 3).items[0]
    friend, blocked, deleted = (ids[int(i)] for i in top)
    later = SimConfig(users=300, days=60).end_ts + 3600
    lines = [
        {"event_id": "late-1", "ts": later, "type": "connect", "actor": ids[user], "target": friend},
        {"event_id": "late-2", "ts": later + 1, "type": "block", "actor": ids[user], "target": blocked},
        {"event_id": "late-3", "ts": later + 2, "type": "delete_user", "actor": deleted, "target": None},
    ]
    (root / "late.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    import_file(root / "late.jsonl", "events-jsonl", settings)
    cold = ids[int(np.flatnonzero(deg == 0)[0])]
    return Home(settings, result.version, ids, ids[user], friend, blocked, deleted, cold)


@pytest.fixture(scope="module")
def batched(home: Home) -> Home:
    """The home after `pymk batch --k 30` on two worker processes."""
    result = CliRunner().invoke(
        app, ["batch", "--home", str(home.settings.home), "--k", "30", "--workers", "2", "--chunk", "100"]
    )
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert f"with model {home.version}" in said and "(2 worker(s);" in said
    return home


def test_batch_lists_honour_the_graph(batched: Home) -> None:
    store = MmapListStore(batched.settings.home / "lists")
    info = store.info()
    assert info is not None and info.model_version == batched.version and info.k == 30
    assert info.users == len(batched.user_ids) - 1  # every user but the deleted one
    graph = load_graph(batched.settings.home)
    index = {u: i for i, u in enumerate(batched.user_ids)}
    seen_reasons: set[str] = set()
    for uid in batched.user_ids:
        found = store.get(uid, 30)
        if uid == batched.deleted:
            assert found is None
            continue
        assert found is not None and found.model_version == batched.version
        assert found.computed_at > time.time() - 600
        u = index[uid]
        items = [d["user_id"] for d in found.item_dicts()]
        banned = {batched.user_ids[v] for v in graph.neighbors(u).tolist()}
        banned |= {
            batched.user_ids[v] for v in (*graph.blocked_by(u).tolist(), *graph.blockers_of(u).tolist())
        }
        assert uid not in items and batched.deleted not in items and not banned & set(items), uid
        assert len(items) == len(set(items)) > 0, uid
        scores = [d["score"] for d in found.item_dicts()]
        assert scores == sorted(scores, reverse=True)
        for d in found.item_dicts():
            seen_reasons |= set(d["reasons"])
    assert {batched.friend, batched.blocked} & set(_items(store, batched.user)) == set()
    assert "mutual_connections" in seen_reasons and seen_reasons <= set(REASON_NAMES)
    assert len(seen_reasons) >= 2  # at least one ranker reason besides the count
    cold = store.get(batched.cold, 10)
    assert cold is not None and len(cold) == 10
    # No mutual connection to show: the items come from the activity and popularity sources.
    assert all("mutual_connections" not in d["reasons"] for d in cold.item_dicts()), cold.item_dicts()
    store.close()


class Slow:
    """A recommender that takes ``delay`` seconds longer."""

    def __init__(self, inner: Recommender, delay: float) -> None:
        self.inner, self.delay = inner, delay
        self.model_version = inner.model_version

    def recommend(self, users: np.ndarray, k: int) -> TopK:
        time.sleep(self.delay)
        return self.inner.recommend(users, k)


def _items(store: MmapListStore, user: str, k: int = 30) -> list[str]:
    found = store.get(user, k)
    assert found is not None
    return [d["user_id"] for d in found.item_dicts()]


def _realtime_service(home: Home) -> RecommendationService:
    """A service over ``home`` in real-time mode with a budget nothing misses."""
    settings = load_settings(
        home=home.settings.home, serving_mode="realtime", realtime_budget_ms=60_000, tracking_url="memory://"
    )
    return build_service(settings)


def test_served_get_has_reasons_and_one_scoring_path(batched: Home) -> None:
    service = build_service(batched.settings)
    try:
        client = AsgiClient(create_app(service))
        status, body = client.request("GET", f"/v1/users/{batched.user}/recommendations?k=10")
        assert status == 200 and body["model_version"] == batched.version and body["source"] == "precomputed"
        assert len(body["items"]) == 10 and body["items"][0]["reasons"]["mutual_connections"] >= 1
        status, ready = client.request("GET", "/readyz")
        assert status == 200 and ready["models"] == [batched.version] and ready["mode"] == "hybrid"
        assert client.request("GET", f"/v1/users/{batched.deleted}/recommendations")[0] == 404
        # Real time computes what batch stored: the same code, the same state.
        realtime = _realtime_service(batched)
        try:
            again = AsgiClient(create_app(realtime))
            status, live = again.request("GET", f"/v1/users/{batched.user}/recommendations?k=10")
            assert status == 200 and live["source"] == "realtime" and live["model_version"] == batched.version
            assert [i["user_id"] for i in live["items"]] == [i["user_id"] for i in body["items"]]
            assert live["items"] == body["items"]
            # A budget nobody can meet: the stored list answers, and says so.
            assert realtime.models is not None
            model = realtime.models.routing.control
            assert model is not None
            slow = dataclasses.replace(model, recommender=Slow(model.recommender, 0.3))
            realtime.models.routing = dataclasses.replace(realtime.models.routing, control=slow)
            realtime.budget_s = 0.02
            status, late = again.request("GET", f"/v1/users/{batched.user}/recommendations?k=10")
            assert status == 200 and late["source"] == "precomputed" and late["items"] == body["items"]
            assert realtime.late >= 1
        finally:
            realtime.close()
    finally:
        service.close()


def test_requests_awaiting_the_realtime_model_on_one_loop_share_batches(batched: Home) -> None:
    # The HTTP workers await the model (one_async) instead of blocking a thread each: requests of one
    # event loop that wait together must still be scored together, and each get its own list.
    service = _realtime_service(batched)
    try:
        assert service.models is not None and service.models.routing.control is not None
        users = [u for u in batched.user_ids if u in service.models.routing.control.index][:16]

        async def all_at_once() -> list[StoredList]:
            return list(await asyncio.gather(*(service.one_async(u, 10) for u in users)))

        lists = asyncio.run(all_at_once())
        calls, scored = service._batcher.calls, service._batcher.users
        assert scored == len(users) == 16 and calls < len(users), (calls, scored)
        for user, found in zip(users, lists, strict=True):
            assert found.source == "realtime"
            alone = service.one(user, 10)
            assert found.item_dicts() == alone.item_dicts(), "a batch neighbour changed a user's list"
    finally:
        service.close()


def test_hybrid_drops_fresh_connections_and_keeps_k(batched: Home) -> None:
    service = build_service(batched.settings)
    try:
        client = AsgiClient(create_app(service))
        _, before = client.request("GET", f"/v1/users/{batched.user}/recommendations?k=5")
        first, second = (i["user_id"] for i in before["items"][:2])
        assert service.exclusions is not None
        now = time.time()
        service.exclusions.connect(batched.user, first, now)  # type: ignore[attr-defined]
        service.exclusions.delete_user(second, now)  # type: ignore[attr-defined]
        _, after = client.request("GET", f"/v1/users/{batched.user}/recommendations?k=5")
        ids = [i["user_id"] for i in after["items"]]
        assert first not in ids and second not in ids and len(ids) == 5
        # The stored items keep their order; slot 1 is a friend of the new friend (fresh FoF), with its
        # mutual connections, who is no friend of the user's.
        stored = [i["user_id"] for i in after["items"] if "source" not in i]
        assert stored[:3] == [i["user_id"] for i in before["items"][2:]] and len(stored) == 4
        fresh = after["items"][1]
        assert fresh["source"] == "realtime" and fresh["reasons"]["mutual_connections"] >= 1
        snap = SnapshotGraph.of(service.models.routing.control if service.models else None)
        assert snap is not None
        index = {u: i for i, u in enumerate(batched.user_ids)}
        c, u = index[fresh["user_id"]], index[batched.user]
        assert c in snap.row(index[first]).tolist() and c not in snap.row(u).tolist()
        assert not load_graph(batched.settings.home).has_edge(u, c)
        assert client.request("GET", f"/v1/users/{second}/recommendations")[0] == 404
        status, batch = client.request(
            "POST", "/v1/recommendations:batch", json.dumps({"user_ids": [batched.user], "k": 5}).encode()
        )
        assert status == 200 and batch["results"][0]["items"] == after["items"]
    finally:
        service.close()


def test_promote_during_a_burst(batched: Home) -> None:
    """Hot swap with real bundles: every response is whole and names exactly one version."""
    registry = open_registry(batched.settings)
    source = registry.get(batched.version)
    info = NewVersion.model_validate(source.manifest.model_dump(include=set(NewVersion.model_fields)))
    second = registry.register(lambda d: _copy_bundle(source.path, d), info)
    service = build_service(
        load_settings(
            home=batched.settings.home,
            model_poll_s=0.05,
            realtime_budget_ms=10_000,  # a busy machine must not turn every v2 answer into a v1 fallback
            tracking_url="memory://",
        )
    )
    assert service.models is not None
    errors: list[BaseException] = []
    versions: list[str] = []
    stop = threading.Event()

    def burst(seed: int) -> None:
        rng = np.random.default_rng(seed)
        live = [u for u in batched.user_ids if u != batched.deleted]
        while not stop.is_set():
            user = live[int(rng.integers(len(live)))]
            try:
                found = service.one(user, 10)
                versions.append(found.model_version)
                assert found.model_version in (batched.version, second.version)
            except BaseException as exc:  # noqa: BLE001 - every failure counts
                errors.append(exc)

    threads = [threading.Thread(target=burst, args=(i,)) for i in range(4)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while batched.version not in versions and time.monotonic() < deadline:
            time.sleep(0.05)
        registry.promote(second.version, force=True)
        while second.version not in versions[-50:] and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join()
        service.close()
        registry.promote(batched.version, force=True)
    assert not errors, errors[:3]
    assert service.model_versions() == [second.version]
    assert batched.version in versions and second.version in versions
    assert set(versions) == {batched.version, second.version}


def _copy_bundle(source: Path, target: Path) -> None:
    for path in source.iterdir():
        if path.is_file() and path.name != "manifest.json":
            shutil.copy2(path, target / path.name)


def test_load_model_names_its_version(batched: Home) -> None:
    model = load_model(batched.settings, batched.version)
    assert model.version == batched.version == model.recommender.model_version
    assert model.index[batched.user] == batched.user_ids.index(batched.user)


@pytest.mark.integration
def test_batch_into_redis(batched: Home, redis_url: str, redis_prefix: str) -> None:
    """The same lists into the Redis store (PYMK_LISTS_URL), read back by the served path."""
    settings = load_settings(
        home=batched.settings.home, tracking_url="memory://", lists_url=f"{redis_url}?prefix={redis_prefix}"
    )
    run = run_batch(settings, k=10, workers=1)
    assert run.info.model_version == batched.version and run.info.users == len(batched.user_ids) - 1
    service = build_service(settings)
    try:
        found = service.one(batched.user, 10)
        mmap = MmapListStore(batched.settings.home / "lists")
        assert found.item_dicts() == mmap.get(batched.user, 10).item_dicts()  # type: ignore[union-attr]
        with pytest.raises(NotFound):
            service.one(batched.deleted, 10)
    finally:
        service.close()


def test_batch_without_an_active_version_is_one_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["batch", "--home", str(tmp_path / "empty")])
    assert result.exit_code == 2
    assert "no active model version" in result.output and "Traceback" not in result.output
    assert CliRunner().invoke(app, ["batch", "--help"]).exit_code == 0


def test_grpc_realtime_matches_http(batched: Home) -> None:
    import grpc
    from google.protobuf.json_format import MessageToDict

    from pymk.serving.grpc_server import create_server
    from pymk.serving.proto import recommender_pb2 as pb
    from pymk.serving.proto import recommender_pb2_grpc as pb_grpc

    service = _realtime_service(batched)
    server, port = create_server(service, "127.0.0.1:0", threads=2)
    server.start()
    try:
        _, body = AsgiClient(create_app(service)).request(
            "GET", f"/v1/users/{batched.user}/recommendations?k=8"
        )
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.RecommenderStub(channel)  # type: ignore[no-untyped-call]
            reply = stub.Recommend(pb.RecommendRequest(user_id=batched.user, k=8))
        got = MessageToDict(reply, preserving_proto_field_name=True)
        assert got["source"] == body["source"] == "realtime" and got["model_version"] == batched.version
        assert [i["user_id"] for i in got["items"]] == [i["user_id"] for i in body["items"]]
        assert [i["reasons"] for i in got["items"]] == [i["reasons"] for i in body["items"]]
    finally:
        server.stop(None)
        service.close()
