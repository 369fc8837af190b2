"""Helpers for the registry tests: describe a trained model, write its files, register it."""

from __future__ import annotations

from pathlib import Path

from pymk.registry import CodeRevision, ModelRegistry, ModelVersion, NewVersion

CODE = CodeRevision(commit="0" * 40, dirty=False, package_version="0.1.0")


def info(recall: float | None = 0.2, **extra: object) -> NewVersion:
    """A trained model's description with ``recall@20 = recall`` (omitted when None)."""
    metrics = {} if recall is None else {"recall@20": recall, "ndcg@20": recall / 2}
    fields: dict[str, object] = {
        "model_name": "pymk-ranker",
        "model_kind": "lightgbm",
        "params": {"num_leaves": 31, "lr": 0.05},
        "feature_config": {"windows": ["1h", "24h"]},
        "data_fingerprint": "ab" * 32,
        "metrics": metrics,
        "mlflow_run_id": "run123",
        "code": CODE,
    }
    fields.update(extra)
    return NewVersion.model_validate(fields)


def write_model(directory: Path) -> None:
    """What a model's ``save(dir)`` might write."""
    (directory / "model.txt").write_text("tree 0\n")
    (directory / "features").mkdir()
    (directory / "features" / "config.json").write_text("{}")


def add(registry: ModelRegistry, recall: float | None = 0.2) -> ModelVersion:
    """Register one version with ``recall@20 = recall``."""
    return registry.register(write_model, info(recall))


def active_version(registry: ModelRegistry) -> str | None:
    """The active version id, or None."""
    active = registry.active()
    return None if active is None else active.version
