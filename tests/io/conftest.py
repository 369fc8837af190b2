"""Fixtures for the import tests: a fresh PYMK_HOME and helpers to write tiny input files."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest

from pymk.config import Settings, load_settings

WriteFile = Callable[..., Path]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a fresh home and the default (SQLite) dead-letter and dedupe stores."""
    return load_settings(home=tmp_path / "home")


@pytest.fixture
def write_file(tmp_path: Path) -> WriteFile:
    """``write_file(name, *lines, gz=False)``: a file of ``lines`` (each ended by a line break)."""

    def write(name: str, *lines: str, gz: bool = False) -> Path:
        data = "".join(line + "\n" for line in lines).encode()
        path = tmp_path / name
        path.write_bytes(gzip.compress(data) if gz else data)
        return path

    return write
