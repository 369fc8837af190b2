"""Simulated streams for the drift tests: one generator, and the same generator with more new users and
more activity (the shift issue 6 asks ``pymk monitor`` to flag)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from pymk.monitoring.profile import EventData
from pymk.sim import SimConfig, simulate
from pymk.sim.columns import TYPE_CODES

#: 60 days of a small network; the window compared is its last week.
BASE = SimConfig(users=2000, days=60.0, epochs=20)
WINDOW_DAYS = 7.0
#: New-user share: arrivals speed up more (``growth`` 1.5 -> 5: about 20% -> 30% of the week's active
#: users are new); activity: 2.5x the messages and likes per connection.
SHIFT = {"growth": 5.0, "messages_per_connection": 2.5, "likes_per_connection": 1.0}
#: The seed of the reference stream (the one "trained on"); current streams use other seeds.
REFERENCE_SEED = 1000


def config(seed: int, *, shifted: bool = False, users: int = BASE.users) -> SimConfig:
    """The generator's config for ``seed`` (``shifted``: with :data:`SHIFT`)."""
    cfg = replace(BASE, seed=seed, users=users)
    return replace(cfg, **SHIFT) if shifted else cfg  # type: ignore[arg-type]


def event_data(cfg: SimConfig) -> EventData:
    """The simulated stream of ``cfg`` as :class:`EventData` (user index = simulated user id)."""
    ev = simulate(cfg).events
    return EventData(
        ts=ev.ts.astype(np.float64),
        type=ev.type.astype(np.int64),
        type_names=tuple(t.value for t in TYPE_CODES),
        actor=ev.actor.astype(np.int64),
        target=ev.target.astype(np.int64),
    )
