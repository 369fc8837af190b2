"""Train the pymk pipeline on a ``PYMK_HOME``: holdout evaluation, refit, bundle, tracked run, registry.

:func:`train_home` is what ``pymk train`` (and later the Prefect flow) calls:

1. read the home's interactions (:func:`~pymk.training.homedata.home_interactions`);
2. **holdout**: split them as DESIGN §4 does (the last ``holdout_fraction`` of rows in time order is
   held out), fit the pipeline on the first part only and measure recall@k / ndcg@k on the new pairs of
   the held-out part — the figures the promotion gate compares;
3. **refit** the pipeline on *all* rows: the shipped model has seen everything, its metrics are the
   holdout's (the usual "evaluate on a split, ship the refit" trade: the shipped model is measured
   one step removed, but is not a fifth of the data behind);
4. save it as a bundle (:mod:`pymk.models.bundle`) with the drift reference profile of the last
   ``drift_window`` of the home's events (``profile.json``, :mod:`pymk.monitoring.profile`: what
   ``pymk monitor`` compares later windows with) and register it as a model version (data fingerprint,
   code revision, config, metrics, run id); promote it when the registry's gate allows.

Everything happens inside one tracked run: params, the dataset fingerprint, the metrics and the bundle.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymk.config import Settings
from pymk.errors import InvalidInput
from pymk.evaluation.protocol import split_interactions
from pymk.evaluation.pymk_model import PymkModel
from pymk.evaluation.runner import dataset_summary, evaluate
from pymk.models.bundle import config_to_dict, save_bundle
from pymk.models.pipeline import PipelineConfig, PymkPipeline
from pymk.monitoring.drift import parse_window
from pymk.monitoring.profile import EventData, build_profile
from pymk.registry import GateRefused, ModelRegistry, NewVersion, open_registry
from pymk.training.homedata import NothingToTrain, all_rows, data_fingerprint, home_interactions
from pymk.training.tracking import Tracker, tracked_run, tracker_from_settings

KS = (10, 20, 50)
MODEL_NAME = "pymk"
#: ``progress(stage, done, total)``: ``total == 0`` while a stage's length is unknown.
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class TrainResult:
    """What one training did. ``promoted`` is False with ``gate`` saying why when it was not promoted."""

    version: str
    bundle: Path
    promoted: bool
    gate: str | None
    metrics: dict[str, float]
    run_id: str
    data_fingerprint: str
    rows: int
    users: int
    holdout: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``--json``)."""
        return {
            "version": self.version,
            "bundle": str(self.bundle),
            "promoted": self.promoted,
            "gate": self.gate,
            "metrics": self.metrics,
            "run_id": self.run_id,
            "data_fingerprint": self.data_fingerprint,
            "rows": self.rows,
            "users": self.users,
            "holdout": self.holdout,
            "seconds": self.seconds,
        }


def _flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def train_home(
    settings: Settings,
    *,
    config: PipelineConfig | None = None,
    holdout_fraction: float = 0.2,
    promote: bool = True,
    tracker: Tracker | None = None,
    registry: ModelRegistry | None = None,
    progress: Progress | None = None,
) -> TrainResult:
    """Train on ``settings.home`` as the module describes; returns the registered version.

    ``config`` defaults to :class:`PipelineConfig` with ``seed = settings.seed``; the same seed shuffles
    untimed data. Raises :class:`NothingToTrain` when the home has no interactions or the holdout has no
    new pair to measure, :class:`InvalidInput` for a holdout fraction outside (0, 1).
    """
    if not 0.0 < holdout_fraction < 1.0:
        raise InvalidInput(f"holdout fraction must be between 0 and 1, got {holdout_fraction}")
    config = config or PipelineConfig(seed=settings.seed)
    tracker = tracker or tracker_from_settings(settings)
    registry = registry or open_registry(settings)
    report = progress or (lambda stage, done, total: None)
    seconds: dict[str, float] = {}

    @contextmanager
    def stage(name: str) -> Iterator[None]:
        report(name, 0, 0)
        start = time.perf_counter()
        yield
        seconds[name] = round(time.perf_counter() - start, 3)

    with stage("reading the event log"):
        inter = home_interactions(settings.home, config.seed)
        rows = all_rows(inter)
        user_ids = inter.ids.decode(range(rows.n_users))
        fingerprint = data_fingerprint(rows, user_ids)
    with tracked_run(tracker, "train", {"pymk.command": "train"}) as run_id:
        tracker.log_params(
            {
                **_flatten(config_to_dict(config), "pipeline."),
                "holdout_fraction": holdout_fraction,
                "rows": len(rows),
                "users": rows.n_users,
            }
        )
        tracker.log_dataset(fingerprint, "home")
        with stage("holdout: fit on the first part, score the rest"):
            split = split_interactions(inter, test_fraction=holdout_fraction, seed=config.seed)
            if split.query_users.shape[0] == 0:
                raise NothingToTrain(
                    f"the last {holdout_fraction:g} of the {len(rows):,} interactions hold no new pair "
                    "between users of the rest: too little data to measure a model; import more"
                )
            result = evaluate(
                split,
                {MODEL_NAME: PymkModel(config)},
                KS,
                progress=lambda _name, done, total: report("holdout: scoring", done, total),
            )
        measured = result["models"][MODEL_NAME]
        metrics = {k: float(v) for k, v in measured.items() if "@" in k}
        tracker.log_metrics(metrics)
        tracker.log_metrics({f"holdout_{k}": float(measured[k]) for k in ("fit_seconds", "score_seconds")})
        with stage("fitting on all rows"):
            pipeline = PymkPipeline(config)
            pipeline.fit(rows)
        with stage("profiling the last window for drift monitoring"):
            profile = build_profile(
                EventData.from_home(settings.home),
                window_s=parse_window(settings.drift_window),
                pipeline=pipeline,
                sample_size=settings.drift_sample_size,
                seed=config.seed,
            )
        with stage("saving and registering the bundle"):
            info = NewVersion(
                model_name=MODEL_NAME,
                model_kind="candidates+lightgbm:" + "+".join(r.config.objective for r in pipeline.rankers),
                params={k: v for k, v in _flatten(config_to_dict(config)).items() if _jsonable(v)},
                feature_config={
                    "pair_features": list(pipeline.rankers[0].feature_names),
                    "pipeline": config_to_dict(config),
                },
                data_fingerprint=fingerprint,
                metrics=metrics,
                mlflow_run_id=run_id,
            )

            def write(directory: Path) -> None:
                save_bundle(pipeline, directory, rows=rows, user_ids=user_ids, compile=True)
                profile.save(directory)

            version = registry.register(write, info)
            tracker.log_artifact(version.path, "bundle")
            validation = {f"validation.{k}": v for k, v in pipeline.validation.items()}
            tracker.log_params({"model_version": version.version, **validation})
        promoted = False
        gate_message: str | None = "not promoted (promotion not asked for)"
        if promote:
            try:
                registry.promote(version.version)
                promoted, gate_message = True, None
            except GateRefused as refused:
                gate_message = refused.message
        tracker.log_metrics({"promoted": float(promoted)})
    return TrainResult(
        version=version.version,
        bundle=version.path,
        promoted=promoted,
        gate=gate_message,
        metrics=metrics,
        run_id=run_id,
        data_fingerprint=fingerprint,
        rows=len(rows),
        users=rows.n_users,
        holdout=dataset_summary(split),
        seconds=seconds,
    )


def _jsonable(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool | list)
