"""The filesystem model registry: versions, manifest, promote gate, rollback, atomicity, concurrency."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from registry_helpers import CODE, active_version, add, info, write_model

from pymk.config import load_settings
from pymk.errors import InvalidInput, NotFound
from pymk.registry import (
    FilesystemRegistry,
    GateRefused,
    NothingToRollBack,
    UnknownVersion,
    code_revision,
    open_registry,
)

pytestmark = pytest.mark.unit
VERSION_RE = re.compile(r"^v\d{4}-\d{8}T\d{4}Z$")


def test_register_writes_bundle_and_manifest(registry: FilesystemRegistry, tmp_path: Path) -> None:
    source = tmp_path / "saved"
    source.mkdir()
    write_model(source)
    stored = registry.register(source, info(0.31))

    assert VERSION_RE.match(stored.version) and stored.version.startswith("v0001-")
    assert stored.path == registry.root / stored.version
    assert (stored.path / "model.txt").read_text() == "tree 0\n"
    on_disk = json.loads((stored.path / "manifest.json").read_text())
    assert on_disk["version"] == stored.version
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", on_disk["created_at"])
    assert on_disk["model_name"] == "pymk-ranker" and on_disk["model_kind"] == "lightgbm"
    assert on_disk["params"] == {"num_leaves": 31, "lr": 0.05}
    assert on_disk["feature_config"] == {"windows": ["1h", "24h"]}
    assert on_disk["data_fingerprint"] == "ab" * 32
    assert on_disk["metrics"]["recall@20"] == 0.31
    assert on_disk["mlflow_run_id"] == "run123"
    assert on_disk["code"] == CODE.model_dump()
    assert on_disk["files"] == {"features/config.json": 2, "model.txt": 7}
    assert registry.get(stored.version).manifest == stored.manifest


def test_versions_are_numbered_and_listed_in_order(registry: FilesystemRegistry) -> None:
    assert registry.list() == [] and registry.active() is None and registry.history() == []
    made = [add(registry, r).version for r in (0.1, 0.2, 0.3)]
    assert [v[:5] for v in made] == ["v0001", "v0002", "v0003"]
    assert [v.version for v in registry.list()] == made
    assert registry.active() is None  # registering never promotes


def test_promote_gate_force_rollback_history(registry: FilesystemRegistry) -> None:
    v1, v2, worse = (add(registry, r).version for r in (0.20, 0.25, 0.10))
    assert registry.promote(v1).version == v1  # no active version: always allowed
    registry.promote(v2)
    with pytest.raises(GateRefused, match=r"worse than active .*0\.1000 < 0\.2500.*--force"):
        registry.promote(worse)
    assert active_version(registry) == v2

    registry.promote(worse, force=True)
    assert active_version(registry) == worse
    assert registry.rollback().version == v2
    assert registry.rollback().version == v1  # repeatable, back to the first promote
    with pytest.raises(NothingToRollBack, match="only version"):
        registry.rollback()
    assert active_version(registry) == v1

    steps = [(h.action, h.version, h.previous, h.forced) for h in registry.history()]
    assert steps == [
        ("promote", v1, None, False),
        ("promote", v2, v1, False),
        ("promote", worse, v2, True),
        ("rollback", v2, worse, False),
        ("rollback", v1, v2, False),
    ]


def test_promoting_the_active_version_changes_nothing(registry: FilesystemRegistry) -> None:
    v1 = add(registry).version
    registry.promote(v1)
    registry.promote(v1)
    assert len(registry.history()) == 1


def test_gate_tolerance_and_missing_metrics(tmp_path: Path) -> None:
    registry = FilesystemRegistry(tmp_path / "m", gate_tolerance=0.05)
    base = add(registry, 0.25).version
    registry.promote(base)
    registry.promote(add(registry, 0.21).version)  # within tolerance of 0.25
    with pytest.raises(GateRefused, match="has no recall@20"):
        registry.promote(add(registry, None).version)
    unmeasured = FilesystemRegistry(tmp_path / "u")
    unmeasured.promote(add(unmeasured, None).version)
    unmeasured.promote(add(unmeasured, 0.01).version)  # nothing to compare against: allowed


def test_gate_metric_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYMK_GATE_METRIC", "ndcg@20")
    registry = open_registry(load_settings(home=tmp_path))
    registry.promote(add(registry, 0.4).version)
    with pytest.raises(GateRefused, match="ndcg@20"):
        registry.promote(add(registry, 0.2).version)


@pytest.mark.parametrize("version", ["v0009-20261127T1130Z", "../etc", "", "v1"])
def test_unknown_versions(registry: FilesystemRegistry, version: str) -> None:
    add(registry)
    with pytest.raises(UnknownVersion, match="no model version") as caught:
        registry.promote(version)
    assert isinstance(caught.value, NotFound)
    with pytest.raises(UnknownVersion):
        registry.get(version)


def test_rollback_without_any_promotion(registry: FilesystemRegistry) -> None:
    with pytest.raises(NothingToRollBack, match="no version was ever promoted"):
        registry.rollback()


def test_failed_write_leaves_no_half_version(registry: FilesystemRegistry) -> None:
    def crashes(directory: Path) -> None:
        write_model(directory)
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        registry.register(crashes, info())
    assert registry.list() == []
    assert list((registry.root / ".staging").iterdir()) == []
    assert [p.name for p in registry.root.iterdir() if not p.name.startswith(".")] == []
    assert add(registry).version.startswith("v0001-")  # the number was not used up


def test_bad_sources_are_refused(registry: FilesystemRegistry, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not a directory"):
        registry.register(tmp_path / "missing", info())
    with pytest.raises(InvalidInput, match="may not include manifest.json"):
        registry.register(lambda d: (d / "manifest.json").touch(), info())
    assert registry.list() == []


def test_concurrent_writers_and_readers(registry: FilesystemRegistry) -> None:
    first = add(registry)
    registry.promote(first.version)
    errors: list[BaseException] = []
    seen: set[str] = set()
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                active = registry.active()
                assert active is not None
                seen.add(active.version)
                registry.list()
            except BaseException as exc:  # noqa: BLE001 - collected and re-raised in the test
                errors.append(exc)
                return

    def write() -> None:
        try:
            for _ in range(5):
                registry.promote(add(registry, 0.3).version, force=True)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(2)]
    writers = [threading.Thread(target=write) for _ in range(3)]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    done.set()
    for t in readers:
        t.join()
    assert errors == []
    versions = [v.version for v in registry.list()]
    assert len(versions) == 16 and len({v[:5] for v in versions}) == 16
    assert len(registry.history()) == 16 and seen


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True, capture_output=True
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="needs the git binary")
def test_code_revision_in_and_outside_git(tmp_path: Path) -> None:
    outside = code_revision(tmp_path)
    assert outside.commit == "unknown" and outside.dirty is None and outside.package_version
    assert outside.short() == f"{outside.package_version}+unknown"

    _git(tmp_path, "init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    _git(tmp_path, "add", "a.py")
    _git(tmp_path, "commit", "-q", "-m", "one")
    clean = code_revision(tmp_path)
    assert re.fullmatch(r"[0-9a-f]{40}", clean.commit) and clean.dirty is False
    (tmp_path / "a.py").write_text("x = 2\n")
    dirty = code_revision(tmp_path)
    assert dirty.commit == clean.commit and dirty.dirty is True
    assert dirty.short() == clean.commit[:8] + "+dirty"


def test_register_detects_code_revision_by_default(registry: FilesystemRegistry) -> None:
    stored = registry.register(write_model, info(code=None))
    assert stored.manifest.code.commit != CODE.commit
