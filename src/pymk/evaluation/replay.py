"""Replay evaluation: recall of new links against how fresh the model's state is (issue 8).

Protocol, on top of DESIGN §4 steps 1–2:

- rows in time order (stable sort; untimed data: the §4 shuffle and the row position as clock);
  train = the first ``int(n * (1 - test_fraction))`` rows, replay = the rest, in that order;
- users are numbered by first appearance in that order, so the users known in the state made of the
  first ``m`` rows are exactly ``0..known(m)-1``;
- a replay row ``i`` whose unordered pair occurs in no earlier row is a *new pair*; it is a query for each
  endpoint, answered from the state of the policy — real-time (``0``): the rows with ``t < t_i``, as of
  ``t_i``; every ``D`` seconds: the rows with ``t < b`` at ``b = T + D * floor((t_i - T) / D)``, with ``T``
  the time of the last train row (and never fewer than the train rows); ``never``: the train rows at ``T``;
- a query counts only when both endpoints are known in that state; the others are the cold-start share;
- the querying user's candidates are the known users except itself and its neighbours in the state,
  ranked by score, then state degree, then higher user number (the §4 tie rule); hit@k: the other
  endpoint is among the first ``k``.

Queries are grouped by state, so a model is re-stated once per distinct state (once per refresh for
batch policies; once per new-pair row for real-time).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from pymk.errors import InvalidInput
from pymk.evaluation.protocol import Interactions, _pair_keys
from pymk.features.rows import Rows
from pymk.monitoring.ctr import wilson

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


@dataclass(frozen=True)
class Policy:
    """A refresh policy: ``every`` seconds between refreshes; ``0.0`` real-time; ``None`` never."""

    name: str
    every: float | None


def parse_policies(text: str) -> list[Policy]:
    """``"0,1h,6h,24h,7d,never"`` → policies (units s, m, h, d, w; a bare number is seconds)."""
    out: list[Policy] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part == "never":
            out.append(Policy(part, None))
            continue
        unit = _UNITS.get(part[-1], None)
        try:
            value = float(part[:-1]) * unit if unit is not None else float(part)
        except ValueError:
            raise InvalidInput(f"--refresh: cannot read {part!r} (use e.g. 0,1h,6h,24h,7d,never)") from None
        if not value >= 0.0:
            raise InvalidInput(f"--refresh: {part!r} is negative")
        out.append(Policy(part, value))
    if not out:
        raise InvalidInput("--refresh names no policy")
    return out


@dataclass(frozen=True)
class ReplayData:
    """All rows in replay order on users ``0..n_users-1`` (first-appearance order), split at ``n_train``.

    ``src/dst``: int32; ``clock``: float64 times (row positions for untimed data); ``first_seen``: int64
    ``(n_users,)`` the row where each user appears first (non-decreasing); ``pair_first``: int64 ``(p,)``
    the first row of each distinct pair, ascending, with its endpoints ``pair_a/pair_b``.
    """

    src: np.ndarray
    dst: np.ndarray
    clock: np.ndarray
    n_users: int
    n_train: int
    first_seen: np.ndarray
    pair_first: np.ndarray
    pair_a: np.ndarray
    pair_b: np.ndarray
    user_ids: list[str]

    @classmethod
    def build(cls, inter: Interactions, *, test_fraction: float = 0.2, seed: int = 0) -> ReplayData:
        """Order ``inter`` as §4 does and renumber its users by first appearance in that order."""
        if not 0.0 < test_fraction < 1.0:
            raise InvalidInput(f"test_fraction must be in (0, 1), got {test_fraction}")
        n = len(inter)
        if inter.static:
            order = np.random.default_rng(seed).permutation(n)
        else:
            order = np.argsort(inter.ts, kind="stable")
        timed = not inter.static and bool(np.isfinite(inter.ts).all())
        clock = inter.ts[order] if timed else np.arange(n, dtype=np.float64)  # untimed: the row position
        seq = np.column_stack([inter.src[order], inter.dst[order]]).ravel()
        by_id = np.argsort(seq, kind="stable")
        ids_sorted = seq[by_id]
        starts = np.flatnonzero(np.concatenate(([True], ids_sorted[1:] != ids_sorted[:-1])))
        users = ids_sorted[starts][np.argsort(by_id[starts], kind="stable")]
        remap = np.full(len(inter.ids), -1, dtype=np.int64)
        remap[users] = np.arange(users.shape[0])
        src = remap[inter.src[order]].astype(np.int32)
        dst = remap[inter.dst[order]].astype(np.int32)
        n_users = int(users.shape[0])
        first_seen = np.searchsorted(np.maximum.accumulate(np.maximum(src, dst)), np.arange(n_users))
        keys = _pair_keys(src, dst, n_users)
        korder = np.argsort(keys, kind="stable")
        ks = keys[korder]
        head = np.concatenate(([True], ks[1:] != ks[:-1])) if ks.size else np.zeros(0, bool)
        pair_first = np.sort(korder[head]).astype(np.int64)
        return cls(
            src=src,
            dst=dst,
            clock=clock,
            n_users=n_users,
            n_train=int(n * (1.0 - test_fraction)),
            first_seen=first_seen.astype(np.int64),
            pair_first=pair_first,
            pair_a=np.minimum(src, dst)[pair_first],
            pair_b=np.maximum(src, dst)[pair_first],
            user_ids=inter.ids.decode(users),
        )

    def known(self, m: int) -> int:
        """How many users the first ``m`` rows know (they are users ``0..known(m)-1``)."""
        return int(np.searchsorted(self.first_seen, m))

    def new_pair_rows(self) -> np.ndarray:
        """int64: replay rows whose pair occurs in no earlier row, ascending."""
        return self.pair_first[self.pair_first >= self.n_train]

    def train_end(self) -> float:
        """``T``: the clock of the last train row."""
        return float(self.clock[self.n_train - 1])

    def state(self, m: int, t: float) -> ReplayState:
        """The state made of the first ``m`` rows, as of ``t``."""
        return ReplayState(self.src[:m], self.dst[:m], self.clock[:m], self.known(m), self.n_users, t)


@dataclass(frozen=True)
class ReplayState:
    """The first rows of a replay (views), as of ``time``; users ``0..n_known-1`` appear in them.

    ``n_all``: the users of the whole replay (for models that keep arrays sized once).
    """

    src: np.ndarray
    dst: np.ndarray
    clock: np.ndarray
    n_known: int
    n_all: int
    time: float

    def __len__(self) -> int:
        return int(self.src.shape[0])

    def rows(self, n_users: int | None = None) -> Rows:
        """The state's rows as :class:`Rows` on ``n_users`` users (default ``n_known``)."""
        return Rows(self.src, self.dst, self.clock, self.n_known if n_users is None else n_users)


class StateModel(Protocol):
    """A model that learns once and is then cheaply re-stated as of each refresh."""

    def fit(self, state: ReplayState) -> None:
        """Learn from the training state (the only place a learned model trains)."""

    def restate(self, state: ReplayState) -> None:
        """Adopt ``state`` (rows and time) for scoring, without re-learning; states may come in any order,
        but usually with growing row counts, which incremental models may exploit."""

    def score(self, users: np.ndarray) -> np.ndarray:
        """float32 ``(len(users), n_known)`` of the current state; higher is better."""
        ...


@dataclass(frozen=True)
class Queries:
    """Queries of one policy: ``user`` asks, ``other`` is the answer, from state ``(rows, time)``.

    Sorted by ``rows`` (then by event). ``endpoints``: 2 × new pairs; ``cold_user``: endpoints whose own
    user is unknown in the state; ``cold_other``: known user, unknown other endpoint.
    """

    user: np.ndarray
    other: np.ndarray
    rows: np.ndarray
    time: np.ndarray
    endpoints: int
    cold_user: int
    cold_other: int


def policy_states(data: ReplayData, policy: Policy, events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, time)`` of the state each of ``events`` (replay row indices) is answered from."""
    clock = data.clock[events]
    if policy.every is None:
        m = np.full(events.shape[0], data.n_train, dtype=np.int64)
        return m, np.full(events.shape[0], data.train_end())
    if (
        policy.every == 0.0
    ):  # every row with an earlier time (rows sharing the event's time are not before it)
        return np.searchsorted(data.clock, clock, side="left").astype(np.int64), clock
    end = data.train_end()
    at = end + policy.every * np.floor((clock - end) / policy.every)
    m = np.maximum(np.searchsorted(data.clock, at, side="left"), data.n_train).astype(np.int64)
    return m, at


def build_queries(data: ReplayData, policy: Policy) -> Queries:
    """The queries of ``policy`` (see the module docstring)."""
    events = data.new_pair_rows()
    m, t = policy_states(data, policy, events)
    a, b = data.src[events].astype(np.int64), data.dst[events].astype(np.int64)
    known_a, known_b = data.first_seen[a] < m, data.first_seen[b] < m
    both = known_a & known_b
    user = np.concatenate([a[both], b[both]])
    other = np.concatenate([b[both], a[both]])
    rows, times = np.concatenate([m[both], m[both]]), np.concatenate([t[both], t[both]])
    ev = np.concatenate([events[both], events[both]])
    order = np.lexsort((ev, rows))
    cold_user = int((~known_a).sum() + (~known_b).sum())
    cold_other = int((known_a & ~known_b).sum() + (known_b & ~known_a).sum())
    return Queries(
        user[order], other[order], rows[order], times[order], 2 * events.shape[0], cold_user, cold_other
    )


class _Graph:
    """Degrees and neighbour lists of the state graph, advanced incrementally by pair first-rows."""

    def __init__(self, data: ReplayData) -> None:
        self.data = data
        both = np.concatenate([data.pair_a, data.pair_b]).astype(np.int64)
        other = np.concatenate([data.pair_b, data.pair_a]).astype(np.int64)
        first = np.concatenate([data.pair_first, data.pair_first])
        order = np.lexsort((first, both))
        self.partner, self.partner_first = other[order], first[order]
        self.indptr = np.zeros(data.n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(both, minlength=data.n_users), out=self.indptr[1:])
        self.degree = np.zeros(data.n_users, dtype=np.int64)
        self.m = 0
        self.pairs = 0  # pairs (in pair_first order) already counted

    def advance(self, m: int) -> None:
        """Make ``degree`` that of the first ``m`` rows (``m`` never decreases)."""
        if m < self.m:
            self.degree[:] = 0
            self.pairs = 0
        upto = int(np.searchsorted(self.data.pair_first, m))
        sl = slice(self.pairs, upto)
        self.degree += np.bincount(self.data.pair_a[sl], minlength=self.data.n_users)
        self.degree += np.bincount(self.data.pair_b[sl], minlength=self.data.n_users)
        self.pairs, self.m = upto, m

    def neighbours(self, user: int) -> np.ndarray:
        """``user``'s neighbours in the first ``self.m`` rows."""
        lo, hi = self.indptr[user], self.indptr[user + 1]
        cut = lo + int(np.searchsorted(self.partner_first[lo:hi], self.m))
        out: np.ndarray = self.partner[lo:cut]
        return out


def ranks_of(scores: np.ndarray, users: np.ndarray, others: np.ndarray, graph: _Graph) -> np.ndarray:
    """int64 ``(b,)``: 0-based rank of ``others[i]`` among ``users[i]``'s candidates (masks in place)."""
    b, n = scores.shape
    if scores.size and not (np.isfinite(scores.min()) and np.isfinite(scores.max())):
        lowest = float(np.finfo(np.float32).min)
        np.nan_to_num(scores, copy=False, nan=lowest, posinf=float(np.finfo(np.float32).max), neginf=lowest)
    for i in range(b):
        scores[i, graph.neighbours(int(users[i]))] = -np.inf
    scores[np.arange(b), users] = -np.inf
    cols = np.arange(n)
    target = scores[np.arange(b), others][:, None]
    deg = graph.degree[:n]
    tdeg = deg[others][:, None]
    better = (scores > target) | (
        (scores == target) & ((deg > tdeg) | ((deg == tdeg) & (cols > others[:, None])))
    )
    counts: np.ndarray = better.sum(axis=1)
    return counts


def state_groups(q: Queries, max_states: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(edges, groups)``: the queries of state group ``g`` are ``edges[g]:edges[g + 1]`` (one group
    per distinct state, in row order); ``groups`` the groups :func:`replay_model` answers — all, or
    with more than ``max_states`` of them a uniform random sample of that many (seeded), ascending."""
    change = np.flatnonzero(q.rows[1:] != q.rows[:-1]) + 1
    edges = np.concatenate(([0], change, [q.rows.shape[0]])) if q.rows.size else np.zeros(1, np.int64)
    groups = np.arange(len(edges) - 1)
    if max_states is not None and groups.shape[0] > max_states:
        rng = np.random.default_rng(seed)
        groups = np.sort(rng.choice(groups, size=max_states, replace=False))
    return edges, groups


#: ``progress(label, done, total)`` after every state group.
ReplayProgress = Callable[[str, int, int], None]


def replay_model(
    data: ReplayData,
    model: StateModel,
    policy: Policy,
    ks: Sequence[int],
    *,
    queries: Queries | None = None,
    label: str = "model",
    batch: int = 256,
    progress: ReplayProgress | None = None,
    max_states: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Replay ``policy`` for an already fitted ``model``; hit@k for each ``k``, counts and timings.

    ``restate_seconds``: total re-stating time; ``states``: distinct states used; ``score_seconds``:
    scoring and ranking time. ``max_states``: when the policy needs more states than that (real time
    needs one per event time), only a uniform random sample of that many states (seeded) is re-stated and
    their queries answered: an unbiased estimate for models too slow to re-state thousands of times,
    reported with ``states_total``, ``queries_total`` and a 95 % Wilson interval per hit@k.
    """
    q = queries if queries is not None else build_queries(data, policy)
    graph = _Graph(data)
    edges, groups = state_groups(q, max_states, seed)
    sampled = groups.shape[0] < len(edges) - 1
    restate_s = score_s = 0.0
    size = int(sum(int(edges[g + 1] - edges[g]) for g in groups))
    ranks = np.empty(size, dtype=np.int64)
    at = 0
    total = groups.shape[0]
    for step, g in enumerate(groups):
        lo, hi = int(edges[g]), int(edges[g + 1])
        m, t = int(q.rows[lo]), float(q.time[lo])
        start = time.perf_counter()
        model.restate(data.state(m, t))
        restate_s += time.perf_counter() - start
        start = time.perf_counter()
        graph.advance(m)
        for s in range(lo, hi, batch):
            e = min(s + batch, hi)
            users = q.user[s:e]
            scores = np.array(model.score(users.astype(np.int32)), dtype=np.float32)
            ranks[at : at + e - s] = ranks_of(scores, users, q.other[s:e], graph)
            at += e - s
        score_s += time.perf_counter() - start
        if progress is not None and (step % 64 == 0 or step == total - 1):
            progress(label, step + 1, total)
    n_q = int(ranks.shape[0])
    out: dict[str, Any] = {f"hit@{k}": float((ranks < k).mean()) if n_q else 0.0 for k in ks}
    if sampled:
        out["states_total"] = len(edges) - 1
        out["queries_total"] = int(q.user.shape[0])
        out["interval95"] = {f"hit@{k}": wilson(int((ranks < k).sum()), n_q) for k in ks}  # n_q > 0
    out.update(
        queries=n_q,
        endpoints=q.endpoints,
        coverage=q.user.shape[0] / q.endpoints if q.endpoints else 0.0,
        cold_user=q.cold_user,
        cold_other=q.cold_other,
        states=total,
        restate_seconds=round(restate_s, 4),
        score_seconds=round(score_s, 4),
    )
    return out


def replay(
    data: ReplayData,
    models: Mapping[str, Callable[[], StateModel]],
    policies: Iterable[Policy],
    ks: Sequence[int],
    *,
    progress: ReplayProgress | None = None,
    after_fit: Callable[[str, StateModel], None] | None = None,
    max_states: int | None = None,
) -> dict[str, Any]:
    """Fit each model once on the train state, then replay every policy.

    Returns ``{"dataset": {...}, "protocol": {...}, "policies": {policy: {model: result}}}`` with the
    results of :func:`replay_model` plus ``fit_seconds``. ``after_fit(name, model)`` runs after each fit,
    before the replays (e.g. to measure costs on the train state). ``max_states``: see
    :func:`replay_model` (a sample of states for policies that need more).
    """
    policies = list(policies)
    queries = {p.name: build_queries(data, p) for p in policies}
    train = data.state(data.n_train, data.train_end())
    out: dict[str, dict[str, Any]] = {p.name: {} for p in policies}
    for name, factory in models.items():
        model = factory()
        start = time.perf_counter()
        model.fit(train)
        fit_s = time.perf_counter() - start
        if after_fit is not None:
            after_fit(name, model)
        for p in policies:
            res = replay_model(
                data,
                model,
                p,
                ks,
                queries=queries[p.name],
                label=f"{name} {p.name}",
                progress=progress,
                max_states=max_states,
            )
            res["fit_seconds"] = round(fit_s, 4)
            out[p.name][name] = res
    return {
        "dataset": {
            "users": data.n_users,
            "rows": int(data.src.shape[0]),
            "train_rows": data.n_train,
            "train_users": data.known(data.n_train),
            "new_pairs": int(data.new_pair_rows().shape[0]),
        },
        "protocol": {"ks": list(ks), "policies": {p.name: p.every for p in policies}},
        "policies": out,
    }
