"""One settings object for pymk, read from a TOML file and ``PYMK_*`` environment variables.

Built by :func:`load_settings`, never at import time. Each backend is chosen by a URL:
``memory://`` (in-process), ``sqlite:///path`` (embedded, the default), ``redis://host:port/db``,
``postgresql://user@host/db``. A relative SQLite path is resolved under ``home``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from pymk.errors import ConfigError


class Settings(BaseSettings):
    """Every knob pymk has. Environment variables (``PYMK_HOME``, ...) override the file."""

    model_config = SettingsConfigDict(env_prefix="PYMK_", extra="forbid")

    home: Path = Field(
        default=Path("pymk-home"), description="Directory holding all state (data, models, lists)."
    )
    deadletter_url: str = Field(
        default="sqlite:///deadletter.sqlite",
        description="Where rejected records go with their reason: sqlite:///..., postgresql://..., memory://",
    )
    dedupe_url: str = Field(
        default="sqlite:///seen-events.sqlite",
        description="Where seen event ids are kept for idempotent ingestion: sqlite:///..., redis://..., memory://",
    )
    tracking_url: str = Field(
        default="sqlite:///mlflow.db",
        description="Experiment store: memory://, sqlite:///path (relative: under home), postgresql://...",
    )
    tracking_artifacts: str = Field(
        default="mlartifacts",
        description="Where run artifacts go: a directory (relative: under home) or a URI (s3://...).",
    )
    lists_url: str = Field(
        default="mmap:///lists",
        description="Precomputed top-k lists: mmap:///DIR (embedded, relative to home) or redis://...?prefix=",
    )
    events_url: str = Field(
        default="file:stream/events.jsonl",
        description="Event stream `pymk worker` consumes: file:PATH (JSONL; relative: under home), "
        "redis://host:port/db?stream=pymk:events&group=pymk, kafka://host:port?topic=pymk.events&group=pymk",
    )
    online_url: str = Field(
        default="memory://",
        description="Online feature store: memory:// (in-process) or redis://host:port/db?prefix=pymk:online:",
    )
    worker_batch_size: int = Field(
        default=5000,
        ge=1,
        description="Most records `pymk worker` polls, applies and acks as one batch; with one batch in "
        "flight at a time it bounds the worker's memory.",
    )
    worker_poll_s: float = Field(
        default=1.0, gt=0, description="Longest wait of `pymk worker` for the first record of a batch."
    )
    serving_mode: Literal["hybrid", "realtime", "precomputed"] = Field(
        default="hybrid",
        description="How `pymk serve` answers: hybrid (precomputed lists re-filtered with fresh state; the "
        "model in real time when they are of another version), realtime (the model on every request, "
        "lists past the budget) or precomputed (the stored lists as they are).",
    )
    realtime_budget_ms: float = Field(
        default=50.0,
        gt=0,
        description="Latency budget of a real-time answer; past it the stored list answers.",
    )
    realtime_batch: int = Field(
        default=64,
        ge=1,
        description="Most users scored in one real-time model call: requests waiting together share a "
        "call (pymk.serving.batcher); 1 scores every request alone.",
    )
    follow_interval_ms: float = Field(
        default=50.0,
        gt=0,
        description="How often `pymk serve` reads the online store's graph-delta log (a redis:// "
        "online_url): fresh connects, blocks and deletions reach served lists within one interval of "
        "the worker applying them.",
    )
    model_poll_s: float = Field(
        default=2.0, gt=0, description="How often a server checks the registry for a newly active version."
    )
    snapshot_refresh_s: float = Field(
        default=0.0,
        ge=0,
        description="How often `pymk serve` re-states its loaded model versions on the home's current "
        "interactions when they changed (new users, connections, activity since training): the rankers "
        "are kept, the scoring snapshot (features, candidates, exclusions) is rebuilt, and the refreshed "
        "version replaces the old one between requests. 0 (the default): never; the snapshot stays as "
        "of training and only fresh exclusions apply. Each refresh costs about a model load (seconds "
        "on CollegeMsg) per serving process and holds two snapshots in memory while it builds.",
    )
    ab_version: str | None = Field(
        default=None, description="A/B challenger: the model version the `ab_share` of users get."
    )
    ab_share: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Share of users (by a stable hash of the id) on `ab_version`.",
    )
    tracking_experiment: str = Field(default="pymk", description="MLflow experiment the runs belong to.")
    gate_metric: str = Field(
        default="recall@20", description="Holdout metric `promote` compares (higher is better)."
    )
    gate_tolerance: float = Field(
        default=0.0, ge=0.0, description="How far below the active version's metric a candidate may be."
    )
    seed: int = Field(default=0, description="Default random seed for everything stochastic.")
    log_level: str = Field(default="INFO", description="Python logging level name.")
    log_sample_rate: float = Field(
        default=0.01,
        ge=0.0,
        le=1.0,
        description="Share of successful requests `pymk serve` writes a JSON log line for (errors: all).",
    )
    metrics_flush_s: float = Field(
        default=1.0,
        gt=0,
        description="How often a serving process moves its request counts into /metrics (how late a "
        "scrape may see another worker process).",
    )
    metrics_enabled: bool = Field(
        default=True,
        description="Record the serving metrics (HTTP and gRPC request counts, latency, lists, intake, "
        "feedback). Off: the hot path records nothing and `pymk serve`'s /metrics answers 404 with a "
        "note; logs and request ids are unaffected. For measuring the metrics' cost, or a server that "
        "is not scraped.",
    )
    worker_metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Port of `pymk worker`'s Prometheus /metrics endpoint (None: no endpoint).",
    )
    drift_window: str = Field(
        default="24h",
        pattern=r"^\s*\d+(\.\d+)?\s*[smhdw]\s*$",
        description="Window of recent data a drift profile describes (`30m`, `24h`, `7d`, `2w`): the last "
        "window of training data for the reference profile, and `pymk monitor`'s default.",
    )
    drift_sample_size: int = Field(
        default=2000,
        ge=10,
        description="Most values a drift profile keeps per numeric feature (a uniform random sample).",
    )
    drift_num_method: Literal["auto", "ks", "wasserstein", "psi"] = Field(
        default="auto",
        description="Drift test of numeric features; auto (as Evidently): ks when the reference sample "
        "has at most `drift_small_sample` values, normed Wasserstein above.",
    )
    drift_cat_method: Literal["auto", "chisquare", "jensenshannon"] = Field(
        default="auto",
        description="Drift test of categorical features; auto (as Evidently): chi-square when the "
        "reference has at most `drift_small_sample` observations, Jensen-Shannon distance above.",
    )
    drift_small_sample: int = Field(
        default=1000, ge=1, description="Largest reference sample that `auto` tests with a p-value."
    )
    drift_ks_pvalue: float = Field(
        default=0.05, gt=0, lt=1, description="KS test: drift when the p-value is below this."
    )
    drift_chisquare_pvalue: float = Field(
        default=0.05, gt=0, lt=1, description="Chi-square test: drift when the p-value is below this."
    )
    drift_wasserstein: float = Field(
        default=0.1, gt=0, description="Drift when Wasserstein distance / reference std is at least this."
    )
    drift_psi: float = Field(default=0.1, gt=0, description="Drift when the PSI is at least this.")
    drift_jensenshannon: float = Field(
        default=0.1, gt=0, le=1, description="Drift when the Jensen-Shannon distance is at least this."
    )
    drift_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Dataset drift when at least this share of the voting features drifted.",
    )
    drift_verdict_groups: list[Literal["data", "prediction", "features"]] = Field(
        default=["data"],
        min_length=1,
        description="Feature groups whose drift votes on the verdict: data (new-user share, activity, "
        "degree, event mix), prediction (served scores), features (ranker inputs); all are reported.",
    )
    max_id_length: int = Field(default=128, ge=1, description="Longest accepted user id, in characters.")
    max_props_bytes: int = Field(
        default=4096, ge=0, description="Largest accepted event props, as JSON bytes."
    )

    def resolve(self, url: str) -> str:
        """Return ``url`` with a relative ``sqlite:///`` or ``file:`` path anchored under ``home``."""
        prefix = "sqlite:///"
        if url.startswith(prefix):
            path = Path(url[len(prefix) :])
            if not path.is_absolute():
                return prefix + str(self.home / path)
        if url.startswith("file:") and not url.startswith("file:/"):
            return "file:" + str(self.home / url[len("file:") :])
        return url


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings: defaults < ``config_file`` (TOML, or ``$PYMK_CONFIG``) < environment < ``overrides``.

    Raises :class:`ConfigError` naming the file or field when something is wrong.
    """
    file_values: dict[str, Any] = {}
    path = config_file or (Path(os.environ["PYMK_CONFIG"]) if os.environ.get("PYMK_CONFIG") else None)
    if path is not None:
        try:
            file_values = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    # Environment beats the file: drop file keys that an environment variable sets.
    file_values = {k: v for k, v in file_values.items() if f"PYMK_{k.upper()}" not in os.environ}
    unknown = set(file_values) - set(Settings.model_fields)
    if unknown:
        raise ConfigError(f"unknown settings in {path}: {', '.join(sorted(unknown))}")
    try:
        return Settings(**{**file_values, **{k: v for k, v in overrides.items() if v is not None}})
    except ValueError as exc:
        raise ConfigError(f"invalid settings: {exc}") from exc
