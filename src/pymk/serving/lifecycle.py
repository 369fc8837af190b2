"""Model versions inside a running server: load the active one, hot-swap on promote, split users A/B.

A :class:`Routing` is an immutable view (control model, challenger, share); a request reads
:attr:`ModelSlot.routing` once and uses only that view, so a swap never mixes two versions in one
request and never drops one: the new version is loaded completely (seconds: the bundle's snapshot,
PPR and embeddings are rebuilt) before one attribute assignment publishes it, while requests keep
being answered by the old one. A snapshot refresh (:mod:`pymk.serving.refresh`) publishes a re-stated
copy of a loaded version the same way (:meth:`ModelSlot.replace`).

A/B: with ``ab_version`` set, users whose stable hash (BLAKE2b of the id, the same in every process
and release) falls below ``ab_share`` get the challenger; everyone else the active version.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from pymk.serving.recommender import Recommender

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """One loaded version: its recommender and the external ids of its user indices.

    ``as_of``: UNIX time the state it excludes by (the graph) was read; fresher changes come from the
    server's exclusion source. ``index``: external id -> user index of the users it answers for
    (default: all of ``user_ids``; a loader leaves deleted users out). ``rows``: the interactions its
    scoring snapshot holds (0: not said); ``base``: what a snapshot refresh re-states it from
    (:class:`~pymk.serving.refresh.SnapshotBase`; None: it cannot be refreshed).
    """

    version: str
    recommender: Recommender
    user_ids: Sequence[str]
    as_of: float
    index: Mapping[str, int] = field(default_factory=dict)
    rows: int = 0
    base: object | None = None

    def __post_init__(self) -> None:
        if not self.index:
            object.__setattr__(self, "index", {u: i for i, u in enumerate(self.user_ids)})


def ab_bucket(user_id: str) -> float:
    """A stable number in [0, 1) for ``user_id``."""
    digest = hashlib.blake2b(user_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


@dataclass(frozen=True)
class Routing:
    """Which loaded model answers whom; immutable (a request holds one for its whole life)."""

    control: LoadedModel | None = None
    challenger: LoadedModel | None = None
    share: float = 0.0

    def model_for(self, user_id: str) -> LoadedModel | None:
        """The challenger for the ``share`` of users it hashes, the control for the rest."""
        if self.challenger is not None and ab_bucket(user_id) < self.share:
            return self.challenger
        return self.control

    @property
    def versions(self) -> list[str]:
        """The loaded versions, control first."""
        return [m.version for m in (self.control, self.challenger) if m is not None]


ActiveVersion = Callable[[], str | None]
Loader = Callable[[str], LoadedModel]


class ModelSlot:
    """Keeps :attr:`routing` on the registry's active version (and the A/B challenger).

    ``active()`` names the active version (None before any promote); ``load(version)`` builds it.
    :meth:`poll` checks once; :meth:`start` polls every ``poll_s`` seconds on a daemon thread.
    An active version that fails to load is logged and retried at the next poll while the old one keeps
    serving; an A/B version that fails is logged once and the split is off (everyone gets the control).
    """

    def __init__(
        self,
        active: ActiveVersion,
        load: Loader,
        *,
        ab_version: str | None = None,
        ab_share: float = 0.0,
        poll_s: float = 2.0,
    ) -> None:
        if not 0.0 <= ab_share <= 1.0:
            raise ValueError(f"ab_share must be in [0, 1], got {ab_share}")
        self._active, self._load = active, load
        self.ab_version, self.ab_share, self.poll_s = ab_version, ab_share, poll_s
        self.routing = Routing(share=ab_share)
        self.wanted: str | None = None  # the active version at the last poll
        self._broken: set[str] = set()  # A/B versions that failed to load (not retried)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _get(self, version: str, current: LoadedModel | None) -> LoadedModel:
        if current is not None and current.version == version:
            return current
        if self.routing.challenger is not None and self.routing.challenger.version == version:
            return self.routing.challenger
        if self.routing.control is not None and self.routing.control.version == version:
            return self.routing.control
        started = time.perf_counter()
        model = self._load(version)
        log.info("loaded model %s in %.1f s", version, time.perf_counter() - started)
        return model

    def poll(self) -> bool:
        """Load what changed and publish it; True when :attr:`routing` changed."""
        with self._lock:
            old = self.routing
            active = self.wanted = self._active()
            control, challenger = old.control, old.challenger
            try:
                control = self._get(active, old.control) if active is not None else None
            except Exception:
                log.exception("cannot load model version %s; still serving %s", active, old.versions)
            if self.ab_version is not None and self.ab_version not in self._broken:
                try:
                    challenger = self._get(self.ab_version, old.challenger)
                except Exception:  # the A/B arm is optional: everyone gets the control without it
                    log.exception("cannot load A/B version %s; not splitting", self.ab_version)
                    self._broken.add(self.ab_version)
            if control is old.control and challenger is old.challenger:
                return False
            self.routing = Routing(control, challenger, self.ab_share)
            log.info("serving model versions %s (was %s)", self.routing.versions, old.versions)
            return True

    def replace(self, old: LoadedModel, new: LoadedModel) -> bool:
        """Publish ``new`` (a re-stated ``old``, same version) wherever ``old`` serves, in one assignment;
        False, publishing nothing, when a poll swapped ``old`` out meanwhile."""
        if new.version != old.version:
            raise ValueError(f"a refresh of {old.version} cannot publish {new.version}")
        with self._lock:
            now = self.routing
            control = new if now.control is old else now.control
            challenger = new if now.challenger is old else now.challenger
            if control is now.control and challenger is now.challenger:
                return False
            self.routing = Routing(control, challenger, now.share)
            return True

    @property
    def loaded(self) -> bool:
        """Whether the version the registry named at the last poll is the one serving (vacuously true
        before any promote)."""
        control = self.routing.control
        return self.wanted is None or (control is not None and control.version == self.wanted)

    def start(self) -> ModelSlot:
        """Poll once now, then every ``poll_s`` seconds in the background."""
        self.poll()
        self._thread = threading.Thread(target=self._run, name="pymk-model-poll", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.poll()

    def close(self) -> None:
        """Stop polling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
