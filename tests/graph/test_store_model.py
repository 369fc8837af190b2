"""Property test: GraphStore agrees with a dict-of-sets model over random operation sequences,
through automatic and explicit compactions and save/load round trips."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymk.graph import NO_TS, GraphStore

pytestmark = pytest.mark.unit

N = 4  # a tiny id space so operations on the same pair follow each other often


@dataclass
class Model:
    """The obvious, slow semantics of GraphStore (see its class docstring)."""

    n: int = 0
    adj: dict[int, set[int]] = field(default_factory=dict)
    blocks: set[tuple[int, int]] = field(default_factory=set)
    deleted: set[int] = field(default_factory=set)
    count: dict[tuple[int, int], int] = field(default_factory=dict)
    last: dict[frozenset[int], int] = field(default_factory=dict)

    def grow(self, *ids: int) -> None:
        self.n = max(self.n, max(ids) + 1)

    def edge(self, u: int, v: int) -> bool:
        return v in self.adj.get(u, set())

    def blocked(self, u: int, v: int) -> bool:
        return (u, v) in self.blocks or (v, u) in self.blocks

    def drop(self, u: int, v: int) -> bool:
        if not self.edge(u, v):
            return False
        self.adj[u].discard(v)
        self.adj[v].discard(u)
        return True

    def touch(self, u: int, v: int, ts: int) -> None:
        key = frozenset((u, v))
        self.last[key] = max(self.last.get(key, NO_TS), ts)

    def connect(self, u: int, v: int, ts: int) -> bool:
        self.grow(u, v)
        if u == v or {u, v} & self.deleted or self.blocked(u, v):
            return False
        self.touch(u, v, ts)
        if self.edge(u, v):
            return False
        self.adj.setdefault(u, set()).add(v)
        self.adj.setdefault(v, set()).add(u)
        return True

    def disconnect(self, u: int, v: int, ts: int) -> bool:
        self.grow(u, v)
        return self.drop(u, v)

    def interact(self, u: int, v: int, ts: int) -> bool:
        self.grow(u, v)
        if u == v or {u, v} & self.deleted:
            return False
        self.count[(u, v)] = self.count.get((u, v), 0) + 2
        self.touch(u, v, ts)
        return True

    def block(self, u: int, v: int, ts: int) -> bool:
        self.grow(u, v)
        if u == v or {u, v} & self.deleted:
            return False
        self.drop(u, v)
        new = (u, v) not in self.blocks
        self.blocks.add((u, v))
        return new

    def unblock(self, u: int, v: int, ts: int) -> bool:
        self.grow(u, v)
        new = (u, v) in self.blocks
        self.blocks.discard((u, v))
        return new

    def delete_user(self, u: int, v: int, ts: int) -> bool:
        self.grow(u)
        if u in self.deleted:
            return False
        for w in list(self.adj.get(u, ())):
            self.drop(u, w)
        self.blocks = {b for b in self.blocks if u not in b}
        self.deleted.add(u)
        return True

    def stats(self, u: int, v: int) -> tuple[int, int, int]:
        if u == v or {u, v} & self.deleted:
            return 0, 0, NO_TS
        return self.count.get((u, v), 0), self.count.get((v, u), 0), self.last.get(frozenset((u, v)), NO_TS)


def apply(store: GraphStore, op: str, u: int, v: int, ts: int) -> bool:
    if op == "interact":
        return store.interact(u, v, ts, n=2)
    if op == "delete_user":
        return store.delete_user(u, ts)
    result: bool = getattr(store, op)(u, v, ts)
    return result


def assert_same(store: GraphStore, model: Model) -> None:
    assert store.n_nodes == model.n
    ids = range(model.n)
    assert [store.neighbors(u).tolist() for u in ids] == [sorted(model.adj.get(u, ())) for u in ids]
    assert store.degrees().tolist() == [len(model.adj.get(u, ())) for u in ids]
    assert store.n_edges == sum(len(s) for s in model.adj.values()) // 2
    for u in ids:
        assert store.is_deleted(u) == (u in model.deleted)
        assert store.blocked_by(u).tolist() == sorted(b for a, b in model.blocks if a == u)
        for v in ids:
            assert store.has_edge(u, v) == model.edge(u, v)
            assert store.is_blocked(u, v) == model.blocked(u, v)
            assert store.pair_stats(u, v) == model.stats(u, v), (u, v)


def assert_tables_consistent(store: GraphStore) -> None:
    """After compaction the edge table and the non-edge stats table are disjoint and purged."""
    base, side = store._base, store._side
    base.validate()
    side.validate()
    assert not set(base.entry_keys().tolist()) & set(side.entry_keys().tolist())
    deleted = set(store.deleted_users().tolist())
    assert not deleted & (set(side.indices.tolist()) | set(base.indices.tolist()))


KINDS = ["connect"] * 4 + ["disconnect"] * 2 + ["interact"] * 3 + ["block", "unblock", "delete_user"]
KINDS += ["compact", "grow"]
node, when = st.integers(0, N - 1), st.integers(0, 100)
operation = st.tuples(st.sampled_from(KINDS), node, node, when)
interaction = st.tuples(node, node, when)


@settings(max_examples=100, deadline=None)
@given(
    bulk=st.lists(interaction, max_size=12),
    ops=st.lists(operation, min_size=10, max_size=40),
    threshold=st.sampled_from([None, 0, 1, 4]),
    reload_at=st.integers(0, 40),
)
def test_store_matches_model(
    bulk: list[tuple[int, int, int]],
    ops: list[tuple[str, int, int, int]],
    threshold: int | None,
    reload_at: int,
) -> None:
    model = Model()
    for u, v, ts in bulk:  # from_interactions: every row counts, the first one connects
        model.grow(u, v)
        if u != v:
            model.count[(u, v)] = model.count.get((u, v), 0) + 1
            model.touch(u, v, ts)
            model.adj.setdefault(u, set()).add(v)
            model.adj.setdefault(v, set()).add(u)
    src, dst, times = ([row[i] for row in bulk] for i in range(3))
    store = GraphStore.from_interactions(src, dst, times, compact_threshold=threshold)
    assert_same(store, model)
    with tempfile.TemporaryDirectory() as tmp:
        for i, (op, u, v, ts) in enumerate(ops):
            if i == reload_at:  # one save/load round trip per example: files are slow
                store.save(Path(tmp) / "g")
                store = GraphStore.load(Path(tmp) / "g", compact_threshold=threshold)
            if op == "compact":
                store.compact()
            elif op == "grow":
                store.ensure_nodes(u + 2)
                model.n = max(model.n, u + 2)
            else:
                assert apply(store, op, u, v, ts) == getattr(model, op)(u, v, ts), (op, u, v)
            assert store.has_edge(u, v) == model.edge(u, v)
            assert store.pair_stats(u, v) == model.stats(u, v)
        assert_same(store, model)
        store.compact()
        assert_same(store, model)
        assert_tables_consistent(store)
