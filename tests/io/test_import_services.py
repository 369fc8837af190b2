"""An import against the production backends: dead letters in PostgreSQL, seen ids in Redis."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pymk.config import load_settings
from pymk.io.importer import import_file
from pymk.stores import deadletter_store

pytestmark = pytest.mark.integration
WriteFile = Callable[..., Path]


def test_idempotent_import_with_postgres_and_redis(
    tmp_path: Path, write_file: WriteFile, postgres_dsn: str, redis_url: str, redis_prefix: str
) -> None:
    settings = load_settings(
        home=tmp_path / "home", deadletter_url=postgres_dsn, dedupe_url=f"{redis_url}?prefix={redis_prefix}"
    )
    path = write_file("t.txt", "1 2 100", "2 2 150", "2 3 200", "x", "1 2 100")
    first = import_file(path, "snap-temporal", settings, on_error="skip")
    assert (first.applied, first.rejected, first.dead_lettered) == (3, {"bad_line": 1, "self_edge": 1}, 2)
    second = import_file(path, "snap-temporal", settings, on_error="skip")
    assert (second.applied, second.duplicates, second.dead_lettered) == (0, 3, 0)
    store = deadletter_store(settings)
    assert store.counts_by_reason() == {"bad_line": 1, "self_edge": 1}
    assert [(r.line, r.source) for r in store.list()] == [(4, str(path)), (2, str(path))]
    store.close()
