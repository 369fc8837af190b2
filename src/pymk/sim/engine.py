"""``simulate(config)``: the whole simulator, from population to a time-ordered event stream.

Deterministic: everything is drawn from one ``numpy.random.default_rng(config.seed)`` in a fixed order,
so the same config gives identical columns (and byte-identical files).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from pymk.sim.activity import around_connections, finalize
from pymk.sim.config import SimConfig
from pymk.sim.formation import form
from pymk.sim.population import make_population
from pymk.sim.result import SimResult

#: Called with a phase name (``population``, ``graph``, ``activity``, ``ordering``) and the share of the
#: whole simulation done so far, in [0, 1].
ProgressCallback = Callable[[str, float], None]

# Rough share of the run time each phase takes, to give the progress bar an even pace.
_GRAPH_END = 0.85
_ACTIVITY_END = 0.93


def simulate(config: SimConfig | None = None, progress: ProgressCallback | None = None) -> SimResult:
    """Simulate ``config`` (default: :class:`SimConfig()`) and return its events ordered by time."""
    cfg = SimConfig() if config is None else config
    report: ProgressCallback = progress if progress is not None else (lambda phase, done: None)
    started = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    report("population", 0.0)
    pop = make_population(cfg, rng)

    def on_epoch(done: int, total: int, _made: int) -> None:
        report("graph", 0.02 + (_GRAPH_END - 0.02) * done / total)

    report("graph", 0.02)
    formation = form(cfg, pop, rng, on_epoch)
    report("activity", _GRAPH_END)
    parts = [formation.events, around_connections(cfg, pop, formation, rng)]
    del formation  # finalize consumes parts; holding no other reference keeps the peak memory down
    report("ordering", _ACTIVITY_END)
    events = finalize(cfg, pop, parts)
    report("ordering", 1.0)
    return SimResult(config=cfg, events=events, seconds=time.perf_counter() - started)
