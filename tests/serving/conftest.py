"""Serving fixtures: an empty precomputed-list store of each implementation, and one filled by the fake."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from serving_helpers import fill

from pymk.serving.lists import ListStore
from pymk.serving.lists_mmap import MmapListStore


@pytest.fixture(params=["mmap", pytest.param("redis", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ListStore]:
    """An empty store of each implementation."""
    if request.param == "mmap":
        yield MmapListStore(tmp_path / "lists")
        return
    from pymk.stores import open_list_store

    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("redis_prefix")
    s = open_list_store(f"{url}?prefix={prefix}", tmp_path)
    yield s
    s.close()


@pytest.fixture
def filled(store: ListStore) -> ListStore:
    fill(store)
    return store
