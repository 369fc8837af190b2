"""Fixtures for the evaluation tests: a hand-made temporal file and small random graphs."""

from __future__ import annotations

from pathlib import Path

import pytest
from eval_helpers import random_temporal_file

from pymk.evaluation.protocol import Split, load_interactions, split_interactions
from pymk.io.formats import Format

# Users 1..7. Two self-loops (dropped), a repeated pair (2 1), and rows out of time order (140 before 130).
# Sorted by time, 11 rows remain: train = the first int(11 * 0.8) = 8, test = the last 3.
HANDMADE = """\
# hand-made CollegeMsg-like file
1 2 100
2 3 110
3 3 115
1 3 120
4 5 140
3 4 130
2 1 150
5 6 160
6 7 170
4 2 180
1 5 190
2 2 195
7 1 200
"""


@pytest.fixture
def handmade_file(tmp_path: Path) -> Path:
    path = tmp_path / "handmade.txt"
    path.write_text(HANDMADE)
    return path


@pytest.fixture
def handmade(handmade_file: Path) -> Split:
    return split_interactions(load_interactions(handmade_file, Format.SNAP_TEMPORAL))


@pytest.fixture(params=[1, 2, 3])
def random_split(request: pytest.FixtureRequest, tmp_path: Path) -> Split:
    path = random_temporal_file(tmp_path / "random.txt", seed=request.param)
    return split_interactions(load_interactions(path, Format.SNAP_TEMPORAL))
