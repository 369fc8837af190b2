"""Helpers of the worker tests: a messy simulated stream, and the end state of a home to compare."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from pymk.events.deadletter import DeadLetterStore
from pymk.events.ids import IdMap
from pymk.io.eventlog import read_event_log
from pymk.io.graph_apply import load_graph
from pymk.online.base import OnlineStore
from pymk.sim import SimConfig, simulate
from pymk.sim.writers import json_lines

BAD_RECORDS = [
    b"not json at all",
    b'{"event_id": "bad-1", "ts": 1, "type": "poke", "actor": "u1", "target": "u2"}',
    b'{"event_id": "bad-2", "ts": 1, "type": "like", "actor": "u1", "target": "u1"}',
    b'{"event_id": "bad-3", "ts": "yesterday", "type": "like", "actor": "u1", "target": "u2"}',
    b'{"event_id": "bad-4", "type": "like", "actor": "u1", "target": "u2"}',
    b'{"event_id": "bad-5", "ts": 1, "type": "signup", "actor": "u1", "target": "u2"}',
    b"[1, 2, 3]",
]


@dataclass
class MessyStream:
    """Payloads in stream order; ``valid`` distinct event ids; ``bad`` invalid records (repeats of one
    bad payload at different positions count once each)."""

    payloads: list[bytes]
    valid: set[str]
    bad: int
    end_ts: float


def messy_stream(users: int = 150, seed: int = 3, duplicates: int = 300, bad: int = 40) -> MessyStream:
    """A simulated stream (ordered by ts) with repeated events and invalid records mixed in."""
    result = simulate(SimConfig(users=users, seed=seed, days=20))
    table = result.to_arrow()
    lines = [line.rstrip("\n").encode() for line in json_lines(table).to_pylist()]
    rng = random.Random(seed)
    payloads = list(lines)
    for _ in range(duplicates):  # a redelivery shows up somewhat later than the original
        i = rng.randrange(len(lines))
        payloads.insert(min(len(payloads), i + rng.randrange(1, 400)), lines[i])
    for k in range(bad):
        payloads.insert(rng.randrange(len(payloads)), BAD_RECORDS[k % len(BAD_RECORDS)])
    ids = set(table.column("event_id").to_pylist())
    return MessyStream(payloads, ids, bad, float(max(table.column("ts").to_pylist())))


def write_stream(path: Path, stream: MessyStream) -> None:
    path.write_bytes(b"".join(p + b"\n" for p in stream.payloads))


def graph_state(home: Path) -> dict[str, Any]:
    """The graph as external ids: edges with their pair stats, blocks, deleted users, node count."""
    graph, ids = load_graph(home), IdMap.load(home / "ids.arrow")
    edges = {}
    for u in range(graph.n_nodes):
        for v in graph.neighbors(u).tolist():
            if u < v:
                pair = tuple(sorted((ids.external(u), ids.external(v))))
                edges[pair] = graph.pair_stats(u, v) if pair[0] == ids.external(u) else graph.pair_stats(v, u)
    blocks = {
        (ids.external(u), ids.external(int(v))) for u in range(graph.n_nodes) for v in graph.blocked_by(u)
    }
    deleted = {ids.external(int(u)) for u in graph.deleted_users()}
    return {"nodes": graph.n_nodes, "edges": edges, "blocks": blocks, "deleted": deleted}


def online_state(store: OnlineStore, stream: MessyStream, sample: int = 80) -> dict[str, Any]:
    """Online reads at the stream's end for a sample of users and of interacting pairs."""
    events = [orjson.loads(p) for p in stream.payloads if p.startswith(b'{"event_id":"sim-')]
    users = sorted({e["actor"] for e in events})[:sample]
    pairs = sorted({tuple(sorted((e["actor"], e["target"]))) for e in events if e["target"]})[:sample]
    return {
        "users": store.user_features(users, stream.end_ts),
        "pairs": store.pair_features(pairs),
        "seq": store.last_seq(),
    }


def dead_letters(store: DeadLetterStore) -> list[tuple[str, str, str, int | None]]:
    """Every stored letter as (raw, reason, detail, line), sorted by line (the stream name differs)."""
    rows = store.list(limit=1_000_000)
    return sorted(((r.raw, r.reason, r.detail, r.line) for r in rows), key=lambda r: (r[3] or 0, r))


def log_ids(home: Path) -> list[str]:
    """Event ids of every row of the home's event log (repeats kept)."""
    return list(read_event_log(home, ["event_id"]).column("event_id").to_pylist())
