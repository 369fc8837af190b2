"""Experiment tracking: a small :class:`Tracker` interface, an MLflow implementation and an in-memory one.

A training run calls ``start_run`` once, then any number of ``log_*`` calls, then ``end_run``; the
:func:`tracked_run` context manager does the bracketing and marks the run ``FAILED`` when the body
raises. The MLflow tracker talks to its store through its own ``MlflowClient(tracking_uri=...)``: it never
sets MLflow's process-global tracking URI, and MLflow is imported only when a tracker is first used.

Tracking URLs (:func:`open_tracker`): ``memory://`` (in-process, for tests), ``sqlite:///mlflow.db``
(the embedded default; a relative path lives under ``PYMK_HOME``) and ``postgresql://user@host/db``
(production; rewritten to the ``postgresql+psycopg://`` SQLAlchemy URL MLflow needs).
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from pymk.config import Settings
from pymk.errors import ConfigError, PymkError, ServiceUnavailable

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

RunStatus = Literal["FINISHED", "FAILED", "KILLED"]
_SQLITE = "sqlite:///"
_BAD_KEY_CHARS = re.compile(r"[^\w\-. /:]")
DATASET_TAG_PREFIX = "pymk.dataset."


class Tracker(Protocol):
    """One experiment run at a time: start it, log to it, end it.

    ``log_*`` and ``end_run`` raise :class:`TrackingError` when no run is active.
    """

    def start_run(self, name: str, tags: Mapping[str, str] | None = None) -> str:
        """Start a run called ``name`` with ``tags``; return its run id."""
        ...

    def log_params(self, params: Mapping[str, object]) -> None:
        """Record hyper-parameters, each key once per run; values are stored as their ``str()``."""
        ...

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Record metric values at ``step`` (default 0). Keys may hold ``@`` (``recall@20``)."""
        ...

    def log_artifact(self, path: Path, name: str | None = None) -> None:
        """Copy a file or a directory into the run's artifacts: a file to ``<name>/<file name>`` (top
        level without ``name``), a directory's contents under ``name`` (default: the directory's name).
        Raises ``FileNotFoundError`` if ``path`` does not exist."""
        ...

    def log_dataset(self, fingerprint: str, name: str = "train") -> None:
        """Record the fingerprint (e.g. :func:`fingerprint_files`) of the data the run saw."""
        ...

    def end_run(self, status: RunStatus = "FINISHED") -> None:
        """End the active run with ``status``."""
        ...


class TrackingError(PymkError):
    """The tracker was used out of order (no active run, a run already active)."""


def metric_key(key: str) -> str:
    """``key`` in the characters MLflow accepts: ``recall@20`` → ``recall_at_20``; others become ``_``."""
    return _BAD_KEY_CHARS.sub("_", key.replace("@", "_at_"))


def fingerprint_files(paths: Iterable[Path]) -> str:
    """SHA-256 hex digest over the given files (in the order given) and, for directories, every file
    under them in sorted relative-path order; names are hashed along with contents."""
    digest = hashlib.sha256()
    for root in paths:
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for file in files:
            digest.update(str(file.relative_to(root) if root.is_dir() else file.name).encode() + b"\0")
            with file.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def tracked_run(tracker: Tracker, name: str, tags: Mapping[str, str] | None = None) -> Iterator[str]:
    """Run the body inside a tracked run; yields the run id. ``FAILED`` if the body raises."""
    run_id = tracker.start_run(name, tags)
    try:
        yield run_id
    except BaseException:
        tracker.end_run("FAILED")
        raise
    tracker.end_run("FINISHED")


@dataclass
class RecordedRun:
    """What :class:`MemoryTracker` kept of one run. ``metrics`` holds ``(key, value, step)`` in order."""

    run_id: str
    name: str
    tags: dict[str, str]
    params: dict[str, str] = field(default_factory=dict)
    metrics: list[tuple[str, float, int]] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)
    datasets: dict[str, str] = field(default_factory=dict)
    status: str = "RUNNING"


class MemoryTracker:
    """In-process :class:`Tracker` that records everything in :attr:`runs` (by run id); for tests."""

    def __init__(self) -> None:
        self.runs: dict[str, RecordedRun] = {}
        self._active: RecordedRun | None = None

    def _run(self) -> RecordedRun:
        if self._active is None:
            raise TrackingError("no active tracking run: call start_run first")
        return self._active

    def start_run(self, name: str, tags: Mapping[str, str] | None = None) -> str:
        if self._active is not None:
            raise TrackingError(f"tracking run {self._active.run_id} is still active")
        run = RecordedRun(run_id=uuid.uuid4().hex, name=name, tags=dict(tags or {}))
        self.runs[run.run_id] = self._active = run
        return run.run_id

    def log_params(self, params: Mapping[str, object]) -> None:
        self._run().params.update({k: str(v) for k, v in params.items()})

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self._run().metrics.extend((k, float(v), step or 0) for k, v in metrics.items())

    def log_artifact(self, path: Path, name: str | None = None) -> None:
        if not path.exists():
            raise FileNotFoundError(2, "no such artifact", str(path))
        if path.is_dir() or name is None:
            self._run().artifacts.append(name or path.name)
        else:
            self._run().artifacts.append(f"{name}/{path.name}")

    def log_dataset(self, fingerprint: str, name: str = "train") -> None:
        self._run().datasets[name] = fingerprint

    def end_run(self, status: RunStatus = "FINISHED") -> None:
        self._run().status = status
        self._active = None


class MlflowTracker:
    """:class:`Tracker` over an MLflow store (``sqlite:///...`` or ``postgresql+psycopg://...``).

    Runs go to experiment ``experiment`` (created on first use, its artifacts under
    ``artifact_root/<experiment>``). Param values are cut to MLflow's 6000 characters; metric keys
    pass through :func:`metric_key`; the dataset
    fingerprint becomes the tag ``pymk.dataset.<name>.sha256``. Raises :class:`ServiceUnavailable` when
    the store cannot be opened.
    """

    def __init__(self, tracking_uri: str, artifact_root: str, experiment: str = "pymk") -> None:
        self.tracking_uri = tracking_uri
        self.artifact_root = artifact_root
        self.experiment = experiment
        self._client: MlflowClient | None = None
        self._run_id: str | None = None

    @property
    def client(self) -> MlflowClient:
        """The MLflow client, made on first use (first use of a fresh database runs its migrations)."""
        if self._client is None:
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(tracking_uri=self.tracking_uri)
        return self._client

    def _probe(self) -> None:
        """Fail fast on an unreachable PostgreSQL: MLflow itself retries for about 100 s."""
        if self._client is not None or not self.tracking_uri.startswith("postgresql"):
            return
        try:
            import psycopg
        except ImportError as exc:
            raise ConfigError("postgresql tracking URLs need psycopg: pip install 'pymk[services]'") from exc
        dsn = "postgresql://" + self.tracking_uri.partition("://")[2]
        try:
            psycopg.connect(dsn, connect_timeout=5).close()
        except psycopg.Error as exc:
            raise ServiceUnavailable(
                f"cannot reach tracking store {_redact(self.tracking_uri)}: {str(exc).strip()}"
            ) from exc

    def _experiment_id(self) -> str:
        found = self.client.get_experiment_by_name(self.experiment)
        if found is not None:
            return str(found.experiment_id)
        location = self.artifact_root.rstrip("/") + "/" + self.experiment
        if "://" not in location:
            location = Path(location).resolve().as_uri()
        try:
            return str(self.client.create_experiment(self.experiment, artifact_location=location))
        except Exception:
            # Another process may have created it in between.
            found = self.client.get_experiment_by_name(self.experiment)
            if found is None:
                raise
            return str(found.experiment_id)

    def _run(self) -> str:
        if self._run_id is None:
            raise TrackingError("no active tracking run: call start_run first")
        return self._run_id

    def start_run(self, name: str, tags: Mapping[str, str] | None = None) -> str:
        if self._run_id is not None:
            raise TrackingError(f"tracking run {self._run_id} is still active")
        self._probe()
        try:
            experiment_id = self._experiment_id()
        except Exception as exc:  # MLflow wraps driver errors in several exception types
            raise ServiceUnavailable(
                f"cannot open tracking store {_redact(self.tracking_uri)}: {exc}"
            ) from exc
        run = self.client.create_run(experiment_id, run_name=name, tags=dict(tags or {}))
        self._run_id = str(run.info.run_id)
        return self._run_id

    def log_params(self, params: Mapping[str, object]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:6000]) for k, v in params.items()]
        for start in range(0, len(items), 100):  # MLflow's per-batch limit for params
            self.client.log_batch(self._run(), params=items[start : start + 100])

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(metric_key(k), float(v), now, step or 0) for k, v in metrics.items()]
        for start in range(0, len(items), 1000):
            self.client.log_batch(self._run(), metrics=items[start : start + 1000])

    def log_artifact(self, path: Path, name: str | None = None) -> None:
        if not path.exists():
            raise FileNotFoundError(2, "no such artifact", str(path))
        if path.is_dir():
            self.client.log_artifacts(self._run(), str(path), artifact_path=name or path.name)
        else:
            self.client.log_artifact(self._run(), str(path), artifact_path=name)

    def log_dataset(self, fingerprint: str, name: str = "train") -> None:
        self.client.set_tag(self._run(), f"{DATASET_TAG_PREFIX}{name}.sha256", fingerprint)

    def end_run(self, status: RunStatus = "FINISHED") -> None:
        self.client.set_terminated(self._run(), status)
        self._run_id = None


def _redact(url: str) -> str:
    """``url`` without a password, for messages."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def sqlalchemy_url(url: str, home: Path) -> str:
    """The SQLAlchemy URL MLflow's store needs for a pymk tracking URL.

    ``sqlite:///rel.db`` → ``sqlite:////<home>/rel.db``; ``postgresql://`` / ``postgres://`` →
    ``postgresql+psycopg://`` (query options such as ``?options=-csearch_path%3Ds`` kept). Raises
    :class:`ConfigError` for anything else.
    """
    if url.startswith(_SQLITE):
        path = Path(url[len(_SQLITE) :])
        if not str(path) or str(path) == ".":
            raise ConfigError(f"sqlite tracking URL names no file: {url!r}")
        return _SQLITE + str(path if path.is_absolute() else (home / path).resolve())
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower() in {"postgresql", "postgres"}:
        return f"postgresql+psycopg://{rest}"
    if sep and scheme.lower().startswith("postgresql+"):
        return url
    raise ConfigError(
        f"unsupported tracking_url {_redact(url)!r}: use memory://, sqlite:///... or postgresql://..."
    )


def open_tracker(
    url: str, home: Path, *, artifacts: str = "mlartifacts", experiment: str = "pymk"
) -> Tracker:
    """The tracker ``url`` names: ``memory://`` → :class:`MemoryTracker`; ``http(s)://`` → an
    :class:`MlflowTracker` on that MLflow tracking server; else one on :func:`sqlalchemy_url`. Artifacts go
    under ``artifacts`` (a relative path is under ``home``; a URI such as ``mlflow-artifacts:/x`` is kept).

    Nothing is opened yet: the store is touched on the first ``start_run``.
    """
    scheme = url.partition("://")[0].lower()
    if scheme == "memory":
        return MemoryTracker()
    # An MLflow tracking server (production: `mlflow server` beside the database); its artifact root may
    # be its proxy scheme, e.g. ``mlflow-artifacts:/pymk``.
    store = url if scheme in ("http", "https") else sqlalchemy_url(url, home)
    has_scheme = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:/", artifacts) is not None
    root = artifacts if has_scheme or Path(artifacts).is_absolute() else str(home / artifacts)
    return MlflowTracker(store, root, experiment)


def tracker_from_settings(settings: Settings) -> Tracker:
    """:func:`open_tracker` with the ``tracking_*`` settings, under ``settings.home``."""
    return open_tracker(
        settings.tracking_url,
        settings.home,
        artifacts=settings.tracking_artifacts,
        experiment=settings.tracking_experiment,
    )
