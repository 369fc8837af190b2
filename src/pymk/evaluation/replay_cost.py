"""The cost side of a replay: what each refresh policy costs in CPU, from measurements on this machine.

Measured per model, on the train state (the state every policy starts from):

- ``precompute_seconds``: one batch refresh — re-state the model, then score, mask and rank the top ``k``
  of every known user (the §4 scoring path, :class:`~pymk.evaluation.metrics.Ranker`);
- ``request_seconds``: one real-time request — score, mask and rank one user (median over a sample);
- ``update_seconds``: bringing the state up to date for one more event — the mean re-state time over the
  real-time replay's states (for a model re-fitted per state this is a whole re-fit).

Per policy: a batch refresh every ``D`` costs ``precompute_seconds * 86400 / D`` CPU seconds per day;
real-time costs ``request_seconds * rate * 86400 + update_seconds * events_per_day`` at ``rate`` requests
per second, ``events_per_day`` being the replay's row rate; ``never`` costs nothing after training.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from pymk.evaluation.graph import TrainGraph
from pymk.evaluation.metrics import Ranker
from pymk.evaluation.replay import Policy, ReplayData, StateModel
from pymk.evaluation.replay_models import state_split

DAY = 86400.0


def measure_costs(
    data: ReplayData, model: StateModel, k: int, *, sample: int = 64, batch: int = 256, seed: int = 0
) -> dict[str, float]:
    """``{"precompute_seconds", "request_seconds"}`` of ``model`` (already fitted) on the train state."""
    state = data.state(data.n_train, data.train_end())
    ranker = Ranker(TrainGraph.from_split(state_split(state)))
    users = np.arange(state.n_known, dtype=np.int32)
    start = time.perf_counter()
    model.restate(state)
    for lo in range(0, users.shape[0], batch):
        part = users[lo : lo + batch]
        scores = np.array(model.score(part), dtype=np.float32)
        ranker.mask(part, scores)
        ranker.top_k(scores, k)
    precompute = time.perf_counter() - start
    picks = np.random.default_rng(seed).choice(users, size=min(sample, users.shape[0]), replace=False)
    times = []
    for u in picks:
        one = np.array([u], dtype=np.int32)
        start = time.perf_counter()
        scores = np.array(model.score(one), dtype=np.float32)
        ranker.mask(one, scores)
        ranker.top_k(scores, k)
        times.append(time.perf_counter() - start)
    return {
        "precompute_seconds": round(precompute, 6),
        "request_seconds": round(float(np.median(times)) if times else 0.0, 6),
    }


def events_per_day(data: ReplayData) -> float:
    """Rows per day over the replayed part (0.0 for untimed data or a zero span)."""
    clock = data.clock[data.n_train :]
    span = float(clock[-1] - data.train_end()) if clock.size else 0.0
    return clock.shape[0] / (span / DAY) if span > 0 else 0.0


def policy_cost(policy: Policy, costs: dict[str, float], *, rate: float, events_day: float) -> dict[str, Any]:
    """``{"refreshes_per_day", "cpu_seconds_per_day"}`` of ``policy`` given :func:`measure_costs` + update."""
    if policy.every is None:
        return {"refreshes_per_day": 0.0, "cpu_seconds_per_day": 0.0}
    if policy.every == 0.0:
        cpu = costs["request_seconds"] * rate * DAY + costs.get("update_seconds", 0.0) * events_day
        return {"refreshes_per_day": events_day, "cpu_seconds_per_day": round(cpu, 3)}
    per_day = DAY / policy.every
    return {
        "refreshes_per_day": per_day,
        "cpu_seconds_per_day": round(costs["precompute_seconds"] * per_day, 3),
    }


def add_costs(
    result: dict[str, Any],
    data: ReplayData,
    costs: dict[str, dict[str, float]],
    policies: list[Policy],
    rate: float,
) -> None:
    """Write ``costs`` (model → measured) and each policy's cost into a :func:`replay` ``result``."""
    events_day = events_per_day(data)
    realtime = next((p.name for p in policies if p.every == 0.0), None)
    for name, measured in costs.items():
        if realtime is not None and name in result["policies"][realtime]:
            r = result["policies"][realtime][name]
            measured["update_seconds"] = round(r["restate_seconds"] / max(r["states"], 1), 6)
    for p in policies:
        for name, res in result["policies"][p.name].items():
            res.update(policy_cost(p, costs[name], rate=rate, events_day=events_day))
    result["costs"] = {"request_rate": rate, "events_per_day": round(events_day, 3), "models": costs}
