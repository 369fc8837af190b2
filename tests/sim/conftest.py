"""Shared small simulations: simulating once per session keeps the suite fast."""

from __future__ import annotations

import pytest

from pymk.sim import SimConfig, SimResult, simulate

#: Small but big enough for the shape statistics to settle.
SMALL = SimConfig(users=3_000, avg_degree=10, seed=7)


@pytest.fixture(scope="session")
def small() -> SimResult:
    """A 3k-user, 15k-connection simulation (a fraction of a second)."""
    return simulate(SMALL)
