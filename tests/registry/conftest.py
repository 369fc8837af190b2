"""Registry fixtures: an empty registry in a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from pymk.registry import FilesystemRegistry


@pytest.fixture
def registry(tmp_path: Path) -> FilesystemRegistry:
    """An empty registry under ``tmp_path/models`` (the directory does not exist yet)."""
    return FilesystemRegistry(tmp_path / "models")
