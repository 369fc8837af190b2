"""Snapshot refresh: the served model re-stated on the home's current interactions (issue 8).

A loaded version scores with the snapshot of its bundle (the rows it was trained on); new users,
connections and activity since then reach its lists only as exclusions. A refresh does what the replay
evaluation's real-time policy does (:class:`~pymk.evaluation.replay_models.PymkState`): it re-reads the
home's interactions with the reader ``pymk train`` uses (:func:`~pymk.training.homedata.home_interactions`),
rebuilds the scoring snapshot on them (``PymkPipeline.restore``: features, candidates; the rankers and
the LightGCN vectors of training are kept) and the graph exclusions, and publishes the result as the
same version through :meth:`~pymk.serving.lifecycle.ModelSlot.replace`: one assignment, so a request
sees the old state or the new one, never a mix, and a promote that happened meanwhile wins.

User indices: the bundle's users keep theirs; users the home gained since are appended in the home's
order (they get lists and appear in others'). A model with LightGCN vectors cannot take new users (its
vectors cover the bundle's users only): its refresh is refused with a log line until it is retrained.
The refreshed model's ``as_of`` is the time the home was read, so fresh exclusions apply after it.

:class:`SnapshotRefresher` checks every ``snapshot_refresh_s`` seconds whether the home's data changed
(the event log, id map and graph files: names, sizes, modification times) and refreshes only then;
:meth:`SnapshotRefresher.refresh` does one check now (tests, benchmarks).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pymk.errors import PymkError
from pymk.features.rows import Rows
from pymk.graph import GraphStore
from pymk.io.eventlog import log_dir
from pymk.io.graph_apply import graph_dir, load_graph
from pymk.models.pipeline import PymkPipeline
from pymk.serving.lifecycle import LoadedModel, ModelSlot
from pymk.serving.model import GraphExclusions, ModelRecommender
from pymk.training.homedata import ID_MAP_FILE, all_rows, home_interactions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SnapshotBase:
    """What re-stating a loaded version needs: its fitted ``pipeline`` (the rankers), the external
    ``user_ids`` of its bundle, its LightGCN vectors (``gnn``, None without) and the ``signature`` of the
    home data its snapshot was built from (None: the bundle's own rows)."""

    pipeline: PymkPipeline
    user_ids: list[str]
    gnn: np.ndarray | None = None
    signature: str | None = None


@dataclass(frozen=True)
class HomeState:
    """The home's interactions (``rows`` on its internal ids, ``user_ids`` their external ids) and graph,
    read at ``as_of`` (UNIX seconds) when its data had ``signature``."""

    rows: Rows
    user_ids: list[str]
    graph: GraphStore
    as_of: float
    signature: str


def home_signature(home: Path) -> str:
    """A digest of the names, sizes and modification times of ``home``'s event log, id map and graph
    files: it changes when an import or a worker commits (cheap: no file is read)."""
    digest = hashlib.blake2b(digest_size=16)
    paths = [home / ID_MAP_FILE]
    for root in (log_dir(home), graph_dir(home)):
        if root.exists():
            paths.extend(sorted(p for p in root.rglob("*") if p.is_file()))
    for path in paths:
        try:
            st = path.stat()
        except FileNotFoundError:  # replaced meanwhile: the next check sees the new one
            continue
        digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def read_home(home: Path, seed: int = 0) -> HomeState:
    """The home's interactions and graph now (raises :class:`~pymk.training.homedata.NothingToTrain`
    when it holds none). The signature is taken first, so a commit during the read changes it."""
    signature = home_signature(home)
    as_of = time.time()
    inter = home_interactions(home, seed)
    rows = all_rows(inter)
    user_ids = inter.ids.decode(range(rows.n_users))
    return HomeState(rows, user_ids, load_graph(home), as_of, signature)


def restate(model: LoadedModel, state: HomeState) -> LoadedModel | None:
    """``model`` re-stated on ``state`` (same version, rankers kept), or None when it cannot be: it has
    no :class:`SnapshotBase`, or LightGCN vectors that do not cover the users ``state`` has."""
    base = model.base
    if not isinstance(base, SnapshotBase):
        return None
    ids = list(base.user_ids)
    position = {u: i for i, u in enumerate(ids)}
    index = np.empty(len(state.user_ids), dtype=np.int64)  # home id -> model user index
    for h, user in enumerate(state.user_ids):
        i = position.get(user)
        if i is None:
            i = position[user] = len(ids)
            ids.append(user)
        index[h] = i
    n = len(ids)
    if base.gnn is not None and base.gnn.shape[0] != n:
        log.warning(
            "not refreshing model %s: its LightGCN vectors cover %d users, the home has %d (retrain it)",
            model.version,
            base.gnn.shape[0],
            n,
        )
        return None
    rows = Rows(
        index[state.rows.src].astype(np.int32), index[state.rows.dst].astype(np.int32), state.rows.ts, n
    )
    pipeline = copy.copy(base.pipeline)  # shares the fitted rankers; only its featurizer is replaced
    pipeline.restore(rows, base.gnn)
    exclusions = GraphExclusions.from_graph(state.graph, n, index)
    served = {u: i for i, u in enumerate(ids) if not exclusions.deleted[i]}
    return LoadedModel(
        model.version,
        ModelRecommender(pipeline, model.version, exclusions),
        ids,
        state.as_of,
        served,
        rows=len(rows),
        base=dataclasses.replace(base, signature=state.signature),
    )


class SnapshotRefresher:
    """Keeps the models of ``slot`` re-stated on ``home``'s current data, checking every ``every_s``
    seconds on a daemon thread (:meth:`start`); ``seed`` orders untimed data as training does."""

    def __init__(self, slot: ModelSlot, home: Path, every_s: float, *, seed: int = 0) -> None:
        if every_s <= 0:
            raise ValueError(f"every_s must be positive, got {every_s}")
        self.slot, self.home, self.every_s, self.seed = slot, home, every_s, seed
        self.refreshes = 0  # models published so far
        self._refused: dict[str, str] = {}  # version -> signature its refresh was refused at
        self._lock = threading.Lock()  # one refresh at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> int:
        """Re-state every loaded model whose snapshot is older than the home's data now; the number of
        models published (0 when nothing changed or nothing could be refreshed)."""
        with self._lock:
            routing = self.slot.routing
            models = [m for m in (routing.control, routing.challenger) if m is not None]
            if len(models) == 2 and models[0] is models[1]:
                models.pop()
            signature = home_signature(self.home)
            stale = [
                m
                for m in models
                if isinstance(m.base, SnapshotBase)
                and m.base.signature != signature
                and self._refused.get(m.version) != signature
            ]
            if not stale:
                return 0
            started = time.perf_counter()
            try:
                state = read_home(self.home, self.seed)
            except PymkError as exc:
                log.warning("not refreshing the model snapshot: %s", exc)
                return 0
            read_s = time.perf_counter() - started
            published = 0
            for model in stale:
                began = time.perf_counter()
                new = restate(model, state)
                if new is None:
                    self._refused[model.version] = state.signature
                    continue
                if self.slot.replace(model, new):
                    published += 1
                    log.info(
                        "refreshed model %s: %d rows, %d users, in %.2f s (%.2f s reading the home)",
                        model.version,
                        new.rows,
                        len(new.user_ids),
                        read_s + time.perf_counter() - began,
                        read_s,
                    )
            self.refreshes += published
            return published

    def start(self) -> SnapshotRefresher:
        """Check every ``every_s`` seconds in the background (the first check after one interval)."""
        self._thread = threading.Thread(target=self._run, name="pymk-snapshot-refresh", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.refresh()
            except Exception:  # keep serving the old snapshot; try again at the next check
                log.exception("snapshot refresh failed; still serving the previous snapshot")

    def close(self) -> None:
        """Stop checking (a refresh in progress finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
