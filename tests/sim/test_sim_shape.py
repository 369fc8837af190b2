"""The simulated network has the shape of real social data (DESIGN §4 split, pymk.sim.shape)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pymk.evaluation.protocol import load_interactions, split_interactions
from pymk.io.formats import Format
from pymk.sim import SimResult, write_jsonl
from pymk.sim.shape import (
    TARGETS,
    as_interactions,
    average_clustering,
    graph_shape,
    in_targets,
    train_adjacency,
)

pytestmark = pytest.mark.unit


def test_read_back_from_jsonl_equals_the_shortcut(small: SimResult, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    write_jsonl(small, path)
    read = load_interactions(path, Format.EVENTS_JSONL)
    direct = as_interactions(small)
    assert np.array_equal(read.src, direct.src)
    assert np.array_equal(read.dst, direct.dst)
    assert np.array_equal(read.ts, direct.ts)
    assert read.ids.decode(np.arange(len(read.ids))) == direct.ids.decode(np.arange(len(direct.ids)))


def test_small_simulation_lands_in_the_real_ranges(small: SimResult) -> None:
    shape = graph_shape(split_interactions(as_interactions(small)))
    assert shape["clustering_method"] == "exact"
    assert shape["query_users"] > 0.3 * shape["users"]
    assert all(in_targets(shape).values()), {k: (shape[k], TARGETS[k]) for k in TARGETS}


def test_clustering_of_known_graphs() -> None:
    # A triangle with a pendant: local clustering 1, 1, 1/3, 0 -> mean 7/12.
    from pymk.evaluation.protocol import Split

    pu, pv = np.array([0, 0, 1, 2]), np.array([1, 2, 2, 3])
    split = Split(
        n_users=4,
        train_src=pu,
        train_dst=pv,
        train_ts=np.zeros(4),
        pair_u=pu.astype(np.int32),
        pair_v=pv.astype(np.int32),
        truth_indptr=np.array([0, 1, 1, 1, 2]),
        truth_indices=np.array([3, 0], dtype=np.int32),
        query_users=np.array([0, 3], dtype=np.int32),
        user_ids=["a", "b", "c", "d"],
        test_fraction=0.2,
        seed=0,
    )
    value, method = average_clustering(train_adjacency(split))
    assert method == "exact" and value == pytest.approx(7 / 12)
    shape = graph_shape(split)
    assert shape["new_pairs"] == 1 and shape["new_pairs_common_neighbour"] == 1.0  # 0-3 share user 2
