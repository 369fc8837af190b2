"""A fitted :class:`~pymk.models.pipeline.PymkPipeline` on disk: save it to a directory, load it back.

Layout of a bundle directory (``format_version`` 1)::

    bundle.json    format_version, the PipelineConfig, validation figures, fitted_ranker, each ranker's
                   feature names, the snapshot it scores on (n_users, t) and the fingerprint of its rows
    ranker-<i>.json  ranker ``i`` of ``pipeline.rankers`` (:meth:`Ranker.save`), when it was fitted
    rows.npz       the rows it was fitted on (``src``, ``dst``, ``ts``, ``n_users``), when saved with them
    users.json     the external user id of each user index, when saved with them
    gnn.npy        the LightGCN embeddings of the scoring snapshot, when the config trains them

Only what fitting *learned* is stored: the rankers and the embeddings (training them again would cost
minutes on a large graph, and is bit-exact only on the same device and thread count). The rest of the
scoring snapshot and featurizer is a deterministic function of the rows and the config, so
:func:`load_bundle` rebuilds it as of the end of the rows, exactly as ``fit`` does: a loaded bundle scores
bit for bit like the pipeline that was saved. A bundle saved with its
rows is self-contained; without them the caller passes the same rows to :func:`load_bundle`, checked
against the stored size, end time and (when stored) fingerprint.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pymk.errors import BundleError
from pymk.features.rows import Rows
from pymk.models import compiled
from pymk.models.pipeline import PipelineConfig, PymkPipeline
from pymk.models.ranker import Ranker

#: 2: bounded-work PPR (:mod:`pymk.features.local_ppr`) — a version-1 bundle's rankers were trained on
#: the exact PPR and would score the new one; they are refused ("retrain").
FORMAT_VERSION = 2
BUNDLE_FILE = "bundle.json"
ROWS_FILE = "rows.npz"
USERS_FILE = "users.json"
GNN_FILE = "gnn.npy"


@dataclass(frozen=True)
class Bundle:
    """A loaded bundle: the pipeline, ready to score; its rows; the external ids of its users (or None)."""

    pipeline: PymkPipeline
    rows: Rows
    user_ids: list[str] | None
    info: dict[str, Any]


def config_to_dict(config: Any) -> dict[str, Any]:
    """A (nested, frozen) dataclass as a JSON-ready dict (tuples become lists)."""
    out: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(config)))
    return out


def config_from_dict(data: Any, cls: type[Any] = PipelineConfig, where: str = "config") -> Any:
    """Rebuild dataclass ``cls`` from :func:`config_to_dict`'s output, nested dataclasses and tuples too.

    Fields missing from ``data`` take their defaults, so a partial dict is a set of overrides. Raises
    :class:`BundleError` naming the field for an unknown field or a value of the wrong shape.
    """
    return _build(cls, data, where)


def _build(tp: Any, value: Any, where: str) -> Any:
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise BundleError(f"{where}: expected an object, got {type(value).__name__}")
        hints = typing.get_type_hints(tp)
        names = {f.name for f in dataclasses.fields(tp) if f.init}
        unknown = sorted(set(value) - names)
        if unknown:
            raise BundleError(f"{where}: unknown field(s) {', '.join(unknown)}")
        try:
            return tp(**{k: _build(hints[k], v, f"{where}.{k}") for k, v in value.items()})
        except (TypeError, ValueError) as exc:
            raise BundleError(f"{where}: {exc}") from exc
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise BundleError(f"{where}: expected a list, got {type(value).__name__}")
        if origin is list or (len(args) == 2 and args[1] is Ellipsis):
            items = [_build(args[0] if args else Any, v, f"{where}[{i}]") for i, v in enumerate(value)]
        elif args and len(args) != len(value):
            raise BundleError(f"{where}: expected {len(args)} items, got {len(value)}")
        else:
            items = [_build(args[i] if args else Any, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (typing.Union, types.UnionType):
        for arm in args:
            if isinstance(arm, type) and dataclasses.is_dataclass(arm) and isinstance(value, dict):
                return _build(arm, value, where)
    return value


def rows_fingerprint(rows: Rows) -> str:
    """SHA-256 hex of the rows' arrays (src int32, dst int32, ts float64, in row order) and ``n_users``."""
    digest = hashlib.sha256(f"rows:{rows.n_users}:{len(rows)}\0".encode())
    for array, dtype in ((rows.src, np.int32), (rows.dst, np.int32), (rows.ts, np.float64)):
        digest.update(np.ascontiguousarray(array, dtype=dtype).tobytes())
    return digest.hexdigest()


def save_bundle(
    pipeline: PymkPipeline,
    directory: Path,
    *,
    rows: Rows | None = None,
    user_ids: list[str] | None = None,
    compile: bool = False,
) -> None:
    """Write fitted ``pipeline`` into ``directory`` (created if missing; existing bundle files replaced).

    With ``rows`` (those it was fitted on) the bundle is self-contained; ``user_ids`` (one per user
    index) lets a server answer in external ids. ``compile``: also compile the rankers to native code for
    this host (:mod:`pymk.models.compiled`, seconds per booster) and cache it in the bundle, where
    :func:`load_bundle` on the same kind of host picks it up. Raises :class:`BundleError` for an unfitted
    pipeline.
    """
    featurizer = pipeline.featurizer
    if featurizer is None:
        raise BundleError("cannot save a pipeline that was never fitted")
    snap = featurizer.snap
    if rows is not None and (rows.n_users != snap.n_users or rows.end_time() != snap.t):
        raise BundleError("the rows given are not those the pipeline was fitted on (users or end differ)")
    if user_ids is not None and len(user_ids) != snap.n_users:
        raise BundleError(f"{len(user_ids)} user ids for {snap.n_users} users")
    directory.mkdir(parents=True, exist_ok=True)
    ranker_files: list[str | None] = []
    for i, ranker in enumerate(pipeline.rankers):
        if ranker.booster is None:
            ranker_files.append(None)
            continue
        ranker.save(directory / f"ranker-{i}.json")
        ranker_files.append(f"ranker-{i}.json")
    gnn_vectors = featurizer.scorer.gnn_vectors
    if gnn_vectors is not None:
        np.save(directory / GNN_FILE, gnn_vectors)
    if rows is not None:
        with (directory / ROWS_FILE).open("wb") as handle:
            np.savez(handle, src=rows.src, dst=rows.dst, ts=rows.ts, n_users=np.int64(rows.n_users))
    if user_ids is not None:
        (directory / USERS_FILE).write_text(json.dumps(user_ids))
    body = {
        "format_version": FORMAT_VERSION,
        "config": config_to_dict(pipeline.config),
        "validation": dict(pipeline.validation),
        "fitted_ranker": pipeline.fitted_ranker,
        "rankers": ranker_files,
        "feature_names": [list(r.feature_names) for r in pipeline.rankers],
        "snapshot": {"n_users": snap.n_users, "t": snap.t},
        "rows_sha256": rows_fingerprint(rows) if rows is not None else None,
        "has_rows": rows is not None,
        "has_user_ids": user_ids is not None,
        "has_gnn": gnn_vectors is not None,
    }
    (directory / BUNDLE_FILE).write_text(json.dumps(body, indent=2) + "\n")
    if compile:
        compile_rankers(pipeline, directory, build=True)


def compile_rankers(pipeline: PymkPipeline, directory: Path, *, build: bool) -> bool:
    """Switch ``pipeline``'s fitted rankers to this host's compiled boosters cached in bundle
    ``directory`` (``build``: compile and cache the missing ones). True when every fitted ranker runs
    compiled; otherwise (no lleaves, nothing cached, another kind of CPU) all keep LightGBM."""
    if not compiled.available():
        return False
    fitted = [(i, r) for i, r in enumerate(pipeline.rankers) if r.boosters]
    cache = compiled.cache_dir(directory)
    for i, ranker in fitted:
        paths: list[Path | None] = [cache / f"ranker-{i}-{b}.o" for b in range(len(ranker.boosters))]
        if not ranker.compile(paths, build=build):
            for _, r in fitted:
                r.compiled = None
            return False
    return bool(fitted)


def read_bundle_info(directory: Path) -> dict[str, Any]:
    """``bundle.json`` of ``directory``, checked for its format version; :class:`BundleError` otherwise."""
    path = directory / BUNDLE_FILE
    if not directory.is_dir():
        raise BundleError(f"no model bundle at {directory}: not a directory")
    try:
        info = json.loads(path.read_text())
    except FileNotFoundError:
        raise BundleError(f"no model bundle at {directory}: {BUNDLE_FILE} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"corrupt model bundle {path}: {exc}") from exc
    if not isinstance(info, dict) or "format_version" not in info:
        raise BundleError(f"corrupt model bundle {path}: no format_version")
    if info["format_version"] != FORMAT_VERSION:
        raise BundleError(
            f"model bundle {directory} has format_version {info['format_version']!r}; this pymk reads "
            f"{FORMAT_VERSION}: retrain with `pymk train`"
        )
    return info


def load_bundle(directory: Path, rows: Rows | None = None) -> Bundle:
    """The pipeline :func:`save_bundle` wrote to ``directory``, ready to score.

    ``rows``: the rows it was fitted on; default: those stored in the bundle. Raises
    :class:`BundleError` when the bundle is missing, corrupt, of another format version, computes other
    features than this code, or when ``rows`` are not the ones it was fitted on.
    """
    info = read_bundle_info(directory)
    try:
        # A bundle saved before ``monotone_activity`` existed holds only the unconstrained rankers.
        config = config_from_dict({"monotone_activity": False, **info["config"]})
        pipeline = PymkPipeline(config)
        names = [list(r.feature_names) for r in pipeline.rankers]
        if names != info["feature_names"]:
            raise BundleError(
                f"model bundle {directory} was trained on other features than this pymk computes "
                f"({len(info['feature_names'][0])} against {len(names[0])}): retrain with `pymk train`"
            )
        files = info["rankers"]
        if len(files) != len(pipeline.rankers):
            raise BundleError(f"corrupt model bundle {directory}: {len(files)} rankers for this config")
        for i, name in enumerate(files):
            if name is not None:
                pipeline.rankers[i] = _load_ranker(directory / name)
        pipeline.ranker = pipeline.rankers[0]
        pipeline.validation = {str(k): int(v) for k, v in info["validation"].items()}
        pipeline.fitted_ranker = bool(info["fitted_ranker"])
        snapshot, stored_sha = info["snapshot"], info["rows_sha256"]
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise BundleError(f"corrupt model bundle {directory}: {BUNDLE_FILE}: {exc!r}") from exc
    if rows is None:
        rows = _load_rows(directory)
    if rows.n_users != snapshot["n_users"] or rows.end_time() != snapshot["t"]:
        raise BundleError(
            f"the rows given are not those model bundle {directory} was fitted on "
            f"({rows.n_users} users ending at {rows.end_time()!r}, want {snapshot['n_users']} at "
            f"{snapshot['t']!r})"
        )
    if stored_sha is not None and rows_fingerprint(rows) != stored_sha:
        raise BundleError(f"the rows given are not those model bundle {directory} was fitted on")
    pipeline.restore(rows, _load_gnn(directory, rows.n_users) if info.get("has_gnn") else None)
    compile_rankers(pipeline, directory, build=False)
    user_ids = _load_user_ids(directory, rows.n_users) if info.get("has_user_ids") else None
    return Bundle(pipeline=pipeline, rows=rows, user_ids=user_ids, info=info)


def _load_gnn(directory: Path, n_users: int) -> np.ndarray:
    path = directory / GNN_FILE
    try:
        vectors: np.ndarray = np.load(path)
    except (OSError, ValueError) as exc:
        raise BundleError(f"corrupt model bundle: cannot read {path}: {exc}") from exc
    if vectors.ndim != 2 or vectors.shape[0] != n_users:
        raise BundleError(f"corrupt model bundle: {path} holds {vectors.shape}, want ({n_users}, dim)")
    return vectors


def _load_ranker(path: Path) -> Ranker:
    try:
        return Ranker.load(path)
    except FileNotFoundError:
        raise BundleError(f"corrupt model bundle: {path.name} is missing from {path.parent}") from None
    except Exception as exc:  # JSON, key or LightGBM parse errors alike
        raise BundleError(f"corrupt model bundle: cannot read {path}: {exc}") from exc


def _load_rows(directory: Path) -> Rows:
    path = directory / ROWS_FILE
    if not path.exists():
        raise BundleError(f"model bundle {directory} holds no rows: pass the rows it was fitted on")
    try:
        with np.load(path, allow_pickle=False) as data:
            return Rows(
                data["src"].astype(np.int32),
                data["dst"].astype(np.int32),
                data["ts"].astype(np.float64),
                int(data["n_users"]),
            )
    except (OSError, KeyError, ValueError) as exc:
        raise BundleError(f"corrupt model bundle: cannot read {path}: {exc}") from exc


def _load_user_ids(directory: Path, n_users: int) -> list[str]:
    path = directory / USERS_FILE
    try:
        ids = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BundleError(f"corrupt model bundle: cannot read {path}: {exc}") from exc
    if not isinstance(ids, list) or len(ids) != n_users:
        raise BundleError(f"corrupt model bundle: {path} does not hold {n_users} user ids")
    return [str(x) for x in ids]
