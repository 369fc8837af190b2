"""Serving check of issue 8: the real serving path's real-time recall against the offline replay's.

    nice -n 10 .venv/bin/python benchmarks/replay_serving.py [--file CollegeMsg.txt --format snap-temporal]
        [--max-states 60] [--bundle-users known|all] [--k 20] [--seed 0] [--refresh-s 0.2]
        [--out benchmarks/out/replay_serving.json]

The offline replay (``pymk evaluate FILE --replay --refresh 0 --models pymk --max-states N``) answers each
sampled real-time state's queries from a ``PymkState`` re-stated on the rows before the state. This script
answers the *same* queries (the same seeded sample of states: :func:`~pymk.evaluation.replay.state_groups`)
through the real serving stack, and prints both hit@k on the same queries with their ratio:

1. the replay's data, split and queries (:class:`~pymk.evaluation.replay.ReplayData`, ``build_queries``);
2. one fit, the replay's own (``PymkState.fit`` on the train state): the offline replay scores with it, and
   its pipeline re-stated on the train rows (its rankers unchanged) is registered and promoted in a fresh
   ``PYMK_HOME`` — so both sides use the very same rankers (``pymk train`` would fit other ones: it trains on
   the home's users only and refits after a holdout). ``--bundle-users known`` (the default, what a server
   has): the served model knows the home's users, and users first seen later get indices at the refresh that
   brings them; ``all``: every user of the file from the start, as the replay's snapshots number them
   (users not seen yet are isolated nodes, which shifts population-relative features such as degree
   percentiles) — with ``all`` the served lists must reproduce the replay's answers query for query;
3. the home gets the train rows (the first 80 %, DESIGN §4) through the ingestion path (``import_file``,
   what ``pymk import`` runs, from a snap-temporal file written in replay order), then ``pymk batch``
   (``/readyz`` wants lists) and ``pymk serve --no-grpc`` as a subprocess with ``PYMK_SERVING_MODE=realtime``,
   ``PYMK_SNAPSHOT_REFRESH_S`` and a budget no answer misses;
4. for each sampled state in row order: the rows since the previous one are imported; the script waits
   until ``/readyz`` reports a snapshot of exactly the state's rows (the server's refresh thread noticed the
   import and re-stated the model); then ``GET /v1/users/{u}/recommendations?k=K`` for each query user, a hit
   when the other endpoint is listed.

Per query, the replay's answer is recomputed beside the served one (``PymkState.restate`` + ``ranks_of``,
as ``replay_model`` does), so the JSON says how many queries hit on both sides, on one only.
Differences that remain by design: the server shows only the candidates the model ranks (the replay ranks
every known user, non-candidates after candidates), excludes by the home's graph (the same pairs), and breaks
score ties by candidate order rather than by degree. Writes ``--out`` (JSON).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from _data import eval_data_dir
from pymk.config import Settings, load_settings
from pymk.evaluation.protocol import load_interactions
from pymk.evaluation.replay import (
    Policy,
    ReplayData,
    _Graph,
    build_queries,
    ranks_of,
    replay_model,
    state_groups,
)
from pymk.evaluation.replay_models import PymkState
from pymk.io.importer import import_file
from pymk.models.bundle import save_bundle
from pymk.registry import NewVersion, open_registry
from pymk.training.homedata import all_rows, home_interactions

HERE = Path(__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 120.0) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _import_rows(data: ReplayData, lo: int, hi: int, settings: Settings, path: Path) -> None:
    """Rows ``lo:hi`` of the replay order into the home, through the importer (snap-temporal file)."""
    ids = data.user_ids
    with path.open("w") as out:
        for s, d, t in zip(data.src[lo:hi], data.dst[lo:hi], data.clock[lo:hi], strict=True):
            ts = int(t) if float(t).is_integer() else repr(float(t))
            out.write(f"{ids[s]} {ids[d]} {ts}\n")
    import_file(path, "snap-temporal", settings)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--file", type=Path, default=eval_data_dir() / "CollegeMsg" / "CollegeMsg.txt")
    parser.add_argument("--format", default="snap-temporal")
    parser.add_argument("--max-states", type=int, default=60)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0, help="the replay's state-sample seed")
    parser.add_argument("--refresh-s", type=float, default=0.2, help="PYMK_SNAPSHOT_REFRESH_S of the server")
    parser.add_argument(
        "--bundle-users",
        choices=("known", "all"),
        default="known",
        help="the served model's users: those the home knows (new ones join at refreshes), or every user "
        "of the file from the start, as the replay's snapshots have them",
    )
    parser.add_argument("--out", type=Path, default=HERE / "out" / "replay_serving.json")
    args = parser.parse_args()
    started = time.perf_counter()
    load_before = os.getloadavg()
    data = ReplayData.build(load_interactions(args.file, args.format))
    policy = Policy("0", 0.0)
    queries = build_queries(data, policy)
    edges, groups = state_groups(queries, args.max_states, args.seed)
    print(
        f"{args.file.name}: {data.n_users:,} users, {data.n_train:,} train rows; {groups.shape[0]} of "
        f"{len(edges) - 1:,} real-time states sampled",
        flush=True,
    )

    # -- the offline replay, with the replay's own fit ----------------------------------------------------
    train = data.state(data.n_train, data.train_end())
    model = PymkState()
    t0 = time.perf_counter()
    model.fit(train)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    offline = replay_model(
        data, model, policy, [args.k], queries=queries, max_states=args.max_states, seed=args.seed
    )
    offline_s = time.perf_counter() - t0
    print(
        f"offline replay: hit@{args.k} {offline[f'hit@{args.k}']:.4f} on {offline['queries']} queries "
        f"(fit {fit_s:.0f} s, replay {offline_s:.0f} s)",
        flush=True,
    )

    # -- a home with the train rows and that same fitted model, served in real time ----------------------
    root = Path(tempfile.mkdtemp(prefix="pymk-replay-serving-"))
    settings = load_settings(home=root / "home", dedupe_url="memory://", tracking_url="memory://")
    _import_rows(data, 0, data.n_train, settings, root / "rows-0.txt")
    inter = home_interactions(settings.home)
    home_rows = all_rows(inter)
    home_ids = inter.ids.decode(range(home_rows.n_users))
    known = data.known(data.n_train)
    if len(home_rows) != data.n_train or home_ids != data.user_ids[:known]:
        raise SystemExit(
            f"the home holds {len(home_rows)} rows of {home_rows.n_users} users; the replay's train state "
            f"{data.n_train} of {known}: the importer and the replay disagree"
        )
    # The same fitted rankers; "known": re-stated on the home's users (users the home gains later get
    # indices at the refresh that brings them); "all": on every user of the replay as the replay states
    # it (users not imported yet are isolated nodes of the snapshot until their rows arrive).
    n_bundle = known if args.bundle_users == "known" else data.n_users
    pipeline = copy.copy(model.pipeline)
    pipeline.restore(train.rows(n_bundle), None)
    registry = open_registry(settings)
    version = registry.register(
        lambda directory: save_bundle(
            pipeline, directory, rows=train.rows(n_bundle), user_ids=data.user_ids[:n_bundle]
        ),
        NewVersion(
            model_name="pymk",
            model_kind="replay-fit",
            data_fingerprint="replay-train-state",
            params={"source": "PymkState.fit on the replay's train state"},
        ),
    ).version
    registry.promote(version, force=True)
    env = {
        **os.environ,
        "PYMK_HOME": str(settings.home),
        "PYMK_TRACKING_URL": "memory://",
        "PYMK_DEDUPE_URL": "memory://",
        "PYMK_SERVING_MODE": "realtime",
        "PYMK_REALTIME_BUDGET_MS": "600000",
        "PYMK_SNAPSHOT_REFRESH_S": str(args.refresh_s),
        "PYMK_LOG_SAMPLE_RATE": "0",
    }
    cli = [sys.executable, "-c", "from pymk.cli import main; main()"]
    subprocess.run(
        [*cli, "batch", "--k", str(args.k), "--workers", "1"], env=env, check=True, stdout=subprocess.DEVNULL
    )
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = root / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [*cli, "serve", "--no-grpc", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )

    def wait_rows(rows: int, timeout: float = 600.0) -> float:
        """Seconds until /readyz reports the served version's snapshot holds ``rows`` rows."""
        begin = time.perf_counter()
        while True:
            try:
                status, body = _get(f"{base}/readyz", 5)
                if status == 200:
                    snaps = body.get("snapshots") or [{}]
                    if snaps[0].get("model_version") == version and snaps[0].get("rows") == rows:
                        return time.perf_counter() - begin
            except OSError:
                pass
            if server.poll() is not None or time.perf_counter() - begin > timeout:
                raise SystemExit(f"the server never served {rows} rows:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.05)

    hits = answered = not_realtime = 0
    both = offline_only = serving_only = 0  # per query: the replay's own answer, recomputed beside it
    graph = _Graph(data)
    waits: list[float] = []
    get_ms: list[float] = []
    try:
        wait_rows(data.n_train, 300.0)
        current = data.n_train
        for step, g in enumerate(groups.tolist()):
            lo, hi = int(edges[g]), int(edges[g + 1])
            m = int(queries.rows[lo])
            if m > current:
                _import_rows(data, current, m, settings, root / f"rows-{step + 1}.txt")
                current = m
            waits.append(wait_rows(m))
            model.restate(data.state(m, float(queries.time[lo])))  # as replay_model does, per query
            graph.advance(m)
            users = queries.user[lo:hi]
            scores = np.array(model.score(users.astype(np.int32)), dtype=np.float32)
            offline_hits = ranks_of(scores, users, queries.other[lo:hi], graph) < args.k
            for i in range(lo, hi):
                user, other = data.user_ids[queries.user[i]], data.user_ids[queries.other[i]]
                t0 = time.perf_counter()
                status, body = _get(f"{base}/v1/users/{user}/recommendations?k={args.k}")
                get_ms.append((time.perf_counter() - t0) * 1000)
                if status != 200 or body["model_version"] != version:
                    raise SystemExit(f"GET {user}: {status} {body}")
                not_realtime += body["source"] != "realtime"
                hit = other in {item["user_id"] for item in body["items"]}
                was = bool(offline_hits[i - lo])
                hits += hit
                both += hit and was
                offline_only += was and not hit
                serving_only += hit and not was
                answered += 1
            if (step + 1) % 10 == 0:
                print(
                    f"{step + 1} states, {answered} queries, serving hit@{args.k} {hits / answered:.4f}",
                    flush=True,
                )
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    refresh_s = [
        float(x)
        for x in re.findall(r"refreshed model \S+: \d+ rows, \d+ users, in ([0-9.]+) s", log_path.read_text())
    ]
    serving_hit = hits / answered if answered else 0.0
    offline_hit = float(offline[f"hit@{args.k}"])
    ratio = serving_hit / offline_hit if offline_hit else float("nan")
    result = {
        "benchmark": "replay_serving",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "file": args.file.name,
        "k": args.k,
        "states": int(groups.shape[0]),
        "states_total": len(edges) - 1,
        "seed": args.seed,
        "bundle_users": args.bundle_users,
        "offline": {
            "hit": round(offline_hit, 4),
            "queries": int(offline["queries"]),
            "interval95": offline.get("interval95", {}).get(f"hit@{args.k}"),
        },
        "serving": {
            "hit": round(serving_hit, 4),
            "queries": answered,
            "hits": hits,
            "answers_not_realtime": not_realtime,
        },
        "per_query": {
            "both_hit": both,
            "offline_only": offline_only,
            "serving_only": serving_only,
            "offline_hit_recomputed": round((both + offline_only) / answered, 4) if answered else None,
        },
        "ratio": round(ratio, 4),
        "within_5pct": bool(abs(ratio - 1.0) <= 0.05),
        "refresh_seconds": {
            "count": len(refresh_s),
            "median": round(float(np.median(refresh_s)), 3) if refresh_s else None,
            "max": round(max(refresh_s), 3) if refresh_s else None,
        },
        "import_to_served_seconds_median": round(float(np.median(waits)), 3) if waits else None,
        "get_ms_median": round(float(np.median(get_ms)), 1) if get_ms else None,
        "seconds": {
            "fit": round(fit_s, 1),
            "offline_replay": round(offline_s, 1),
            "total": round(time.perf_counter() - started, 1),
        },
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "home": str(root),
    }
    print(json.dumps(result, indent=2))
    print(
        f"serving hit@{args.k} {serving_hit:.4f} ({answered} queries) vs replay {offline_hit:.4f} "
        f"({offline['queries']}): ratio {ratio:.3f}, "
        f"{'within' if result['within_5pct'] else 'NOT within'} 5 %"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
