"""The interactions imported into a ``PYMK_HOME``, as the training use case reads them.

One order for every reader, so training twice on the same home gives the same rows: by time, then by
event id; for data without times (snap-static) by event id, then shuffled with
``numpy.random.default_rng(seed).permutation`` as DESIGN §4 shuffles static data.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pymk.errors import PymkError
from pymk.evaluation.protocol import Interactions
from pymk.events.ids import IdMap
from pymk.events.schema import INTERACTION_TYPES
from pymk.features.rows import Rows
from pymk.io.eventlog import read_event_log
from pymk.models.bundle import rows_fingerprint

#: The id map ``pymk import`` keeps under ``PYMK_HOME``.
ID_MAP_FILE = "ids.arrow"


class NothingToTrain(PymkError):
    """The home holds no (or too few) imported interactions to train on."""

    http_status = 409
    grpc_code = "FAILED_PRECONDITION"
    exit_code = 2


def home_interactions(home: Path, seed: int = 0) -> Interactions:
    """Every interaction event (:data:`INTERACTION_TYPES`) imported into ``home``, in the module's order.

    ``src``/``dst`` are the home's internal user ids (its :class:`IdMap`, every imported user, including
    users with no interaction). Raises :class:`NothingToTrain` when there is none.
    """
    columns = ["event_id", "ts", "type", "actor_idx", "target_idx"]
    table = read_event_log(home, columns)
    types = pa.array(sorted(t.value for t in INTERACTION_TYPES), pa.string())
    keep = pc.and_(pc.is_in(table.column("type"), value_set=types), pc.is_valid(table.column("target_idx")))
    # The importer never logs a self-edge; a hand-made log might, and §4 drops them.
    keep = pc.and_(keep, pc.not_equal(table.column("actor_idx"), table.column("target_idx")))
    table = table.filter(keep)
    if table.num_rows == 0:
        raise NothingToTrain(
            f"no interactions imported under {home}: run `pymk import FILE --format F` "
            "(or `pymk simulate --import`) first"
        )
    src = table.column("actor_idx").to_numpy().astype(np.int32)
    dst = table.column("target_idx").to_numpy().astype(np.int32)
    ts = pc.fill_null(table.column("ts"), np.nan).to_numpy().astype(np.float64)
    event_ids = np.asarray(table.column("event_id").to_pylist(), dtype=object)
    static = not bool(np.isfinite(ts).any())
    if static:
        order = np.argsort(event_ids, kind="stable")
        order = order[np.random.default_rng(seed).permutation(order.shape[0])]
    else:
        order = np.lexsort((event_ids, ts))
    ids = IdMap.load(home / ID_MAP_FILE)
    top = int(max(src.max(), dst.max()))
    if top >= len(ids):
        raise NothingToTrain(
            f"the event log of {home} names user {top}, beyond its id map ({len(ids)} users)"
        )
    # The split of untimed data shuffles again with the same seed; rows stay deterministic either way.
    return Interactions(src=src[order], dst=dst[order], ts=ts[order], ids=ids, static=static)


def all_rows(inter: Interactions) -> Rows:
    """Every row of ``inter`` on the home's user ids (``n_users`` = every imported user)."""
    return Rows(inter.src, inter.dst, inter.ts, len(inter.ids))


def data_fingerprint(rows: Rows, user_ids: list[str]) -> str:
    """SHA-256 hex of what a model is fitted on: the rows (:func:`rows_fingerprint`: ids, times, order)
    and the external id of every user index."""
    digest = hashlib.sha256(rows_fingerprint(rows).encode() + b"\0")
    for user in user_ids:
        digest.update(user.encode() + b"\0")
    return digest.hexdigest()
