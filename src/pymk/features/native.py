"""The per-query-user neighbourhood work in C (``_kernels.c``), with NumPy in and out.

:class:`GraphKernels` holds one snapshot graph in the layout the kernels read and computes, for a batch
of query users, the same values as the SciPy expressions of :mod:`pymk.features.pairs` and
:mod:`pymk.features.local_ppr` (equal up to float rounding: sums in double, results float32; tested in
``tests/features/test_native.py``):

- :meth:`GraphKernels.neighbourhood`: the 2-hop rows ``cn``, ``aa``, ``ra``, ``wra`` and ``two_hop`` on one
  shared pattern, in one pass over the users' 2-hop walks;
- :meth:`GraphKernels.ppr`: bounded-work personalized PageRank rows;
- :meth:`GraphKernels.l3`: length-3 path scores at candidate pairs;
- :func:`lookup`: positions of pairs in CSR rows (the lookups of :func:`pymk.features.pairs.sparse_at`).

The work per user follows its neighbourhood only: each thread keeps dense scratch vectors that the
kernels leave zeroed, where SciPy's sparse products allocate and clear ``O(n_users)`` scratch per call.
The kernels run without the GIL (ctypes releases it), so threads scoring batches use all cores.

The extension is built by ``pip install`` (``setup.py``); when it is missing (a source tree without a
build), :func:`available` is false and callers keep the SciPy path. ``PYMK_NATIVE=0`` switches it off
for comparisons.
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import os
import threading
from typing import Any

import numpy as np
import scipy.sparse as sp

#: ctypes argument types by letter: i int64, p pointer, d double.
_TYPES: dict[str, Any] = {"i": ctypes.c_int64, "p": ctypes.c_void_p, "d": ctypes.c_double}
#: Each kernel's result type (None: void) and arguments, as letters (see ``_kernels.c``).
_SIGNATURES: dict[str, tuple[Any, str]] = {
    "pymk_two_hop_bound": (ctypes.c_int64, "ippp"),
    "pymk_neighbourhood": (ctypes.c_int64, "ippp" + "p" * 5 + "ppp" + "i" + "p" * 7),
    "pymk_ppr": (ctypes.c_int64, "ipppidd" + "p" * 5 + "ippp"),
    "pymk_l3": (None, "ipppipppp" + "pppi" + "pp"),
    "pymk_candidates": (ctypes.c_int64, "ippppppp" + "i" + "ppp" + "ii" + "pppp" + "i" + "pp"),
    "pymk_pair_features": (None, "ipipppp" + "p" * 6 + "ipi" + "p" * 5 + "ipiip"),
    "pymk_lookup": (None, "ppippp"),
    "pymk_completed": (None, "ipipp" + "pppp" + "ppp"),
    "pymk_ra_guesses": (None, "ipppppppp" + "p"),
    "pymk_core_numbers": (None, "ippi" + "pppp"),
}


log = logging.getLogger(__name__)


def _load() -> ctypes.CDLL | None:
    spec = importlib.util.find_spec("pymk.features._kernels")
    if spec is None or spec.origin is None:
        log.warning(
            "the C kernels (pymk.features._kernels) are not built: featurization takes the SciPy path, "
            "3.5-7x the CPU per user; reinstall pymk (pip install .) where gcc is present"
        )
        return None
    lib = ctypes.CDLL(spec.origin)
    for name, (result, args) in _SIGNATURES.items():
        function = getattr(lib, name)
        function.restype = result
        function.argtypes = [_TYPES[a] for a in args]
    return lib


_LIB = _load()


def _library() -> ctypes.CDLL:
    """The loaded C kernels, or a RuntimeError saying how to build them."""
    if _LIB is None:
        raise RuntimeError("pymk.features._kernels is not built: reinstall pymk (pip install -e .)")
    return _LIB


def available() -> bool:
    """Is the C extension built and not switched off (``PYMK_NATIVE=0``)?"""
    return _LIB is not None and os.environ.get("PYMK_NATIVE", "1") != "0"


def _p(a: np.ndarray) -> int:
    """Address of a C-contiguous array's data."""
    assert a.flags.c_contiguous
    return int(a.ctypes.data)


def _i64(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int64)


class _Scratch(threading.local):
    """One thread's zeroed dense vectors (allocated on first use)."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, size: int, dtype: Any) -> np.ndarray:
        a = self.arrays.get(name)
        if a is None:
            a = self.arrays[name] = np.zeros(size, dtype=dtype)
        return a


class _Kernels:
    """Base of the classes that call the library: holds it and the threads' scratch, and is pickled
    without them (batch workers, Ray actors)."""

    lib: ctypes.CDLL
    _scratch: _Scratch

    def _attach(self) -> None:
        self.lib = _library()
        self._scratch = _Scratch()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["lib"], state["_scratch"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._attach()


class GraphKernels(_Kernels):
    """The kernels of one symmetric graph (see the module docstring).

    ``adjacency``: CSR ``(n, n)`` (values ignored); ``weighted``: the pair weights on the same pattern
    (``wra``); ``degree`` int ``(n,)``. Raises ``ValueError`` when the patterns differ.
    """

    def __init__(self, adjacency: Any, weighted: Any, degree: np.ndarray) -> None:
        self._attach()
        if not (adjacency.has_sorted_indices and weighted.has_sorted_indices):
            adjacency, weighted = adjacency.sorted_indices(), weighted.sorted_indices()
        self.n = int(adjacency.shape[0])
        self.indptr = _i64(adjacency.indptr)
        self.indices = np.ascontiguousarray(adjacency.indices, dtype=np.int32)
        same = np.array_equal(weighted.indptr, adjacency.indptr) and np.array_equal(
            weighted.indices, adjacency.indices
        )
        if not same:
            raise ValueError("weighted must hold its weights on the adjacency's pattern")
        self.weight = np.ascontiguousarray(weighted.data, dtype=np.float64)
        deg = degree.astype(np.float64)
        strength = np.asarray(sp.csr_matrix(weighted).sum(axis=1)).ravel()
        self.inv_logdeg = 1.0 / np.log(np.maximum(deg, 2.0))
        self.inv_deg = 1.0 / np.maximum(deg, 1.0)
        self.inv_strength = 1.0 / np.maximum(strength, 1e-12)
        self.inv_sqrtdeg = 1.0 / np.sqrt(np.maximum(deg, 1.0))
        self.degree32 = degree.astype(np.float32)
        self.hub, self.hub_bits = _hub_bitsets(self.indptr, self.indices, self.n)

    def neighbourhood(self, users: np.ndarray) -> tuple[sp.csr_matrix, dict[str, np.ndarray]]:
        """The 2-hop rows of ``users``: a float32 CSR pattern ``(b, n)`` (data: ``cn``) and the data arrays
        ``{"cn", "aa", "ra", "wra", "two_hop"}`` aligned with its indices."""
        users = _i64(users)
        b, lib, s = users.shape[0], self.lib, self._scratch
        cap = int(lib.pymk_two_hop_bound(b, _p(users), _p(self.indptr), _p(self.indices)))
        indptr = np.zeros(b + 1, dtype=np.int64)
        indices = np.empty(cap, dtype=np.int32)
        data = {name: np.empty(cap, dtype=np.float32) for name in ("cn", "aa", "ra", "wra", "two_hop")}
        nnz = lib.pymk_neighbourhood(
            b,
            _p(users),
            _p(self.indptr),
            _p(self.indices),
            _p(self.weight),
            _p(self.inv_logdeg),
            _p(self.inv_deg),
            _p(self.inv_strength),
            _p(self.inv_sqrtdeg),
            _p(s.get("acc", 5 * self.n, np.float64)),
            _p(s.get("mark", self.n, np.uint8)),
            _p(s.get("touched", self.n, np.int32)),
            cap,
            _p(indptr),
            _p(indices),
            *(_p(a) for a in data.values()),
        )
        if nnz < 0:  # the bound is exact or above: cannot happen
            raise RuntimeError("neighbourhood kernel overflow")
        data = {name: a[:nnz] for name, a in data.items()}
        pattern = sp.csr_matrix((data["cn"], indices[:nnz], indptr), shape=(b, self.n))
        pattern.has_sorted_indices = True
        pattern.has_canonical_format = True
        return pattern, data

    def ppr(self, users: np.ndarray, *, restart: float, iterations: int, tolerance: float) -> sp.csr_matrix:
        """float32 CSR ``(b, n)`` of bounded-work PPR rows (:mod:`pymk.features.local_ppr`), sorted."""
        users = _i64(users)
        b, lib, s = users.shape[0], self.lib, self._scratch
        cap = max(1024 * b, 1)
        while True:
            indptr = np.zeros(b + 1, dtype=np.int64)
            indices = np.empty(cap, dtype=np.int32)
            values = np.empty(cap, dtype=np.float32)
            nnz = lib.pymk_ppr(
                b,
                _p(users),
                _p(self.indptr),
                _p(self.indices),
                iterations,
                restart,
                tolerance,
                _p(s.get("x", self.n, np.float64)),
                _p(s.get("y", self.n, np.float64)),
                _p(s.get("mark", self.n, np.uint8)),
                _p(s.get("cur", self.n, np.int32)),
                _p(s.get("nxt", self.n, np.int32)),
                cap,
                _p(indptr),
                _p(indices),
                _p(values),
            )
            if nnz >= 0:
                break
            cap = min(4 * cap, b * self.n + 1)
        out = sp.csr_matrix((values[:nnz], indices[:nnz], indptr), shape=(b, self.n))
        out.has_sorted_indices = True
        out.has_canonical_format = True
        return out

    def l3(self, two_hop: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """float32 ``(m,)``: ``sum_z two_hop[rows[p], z] * A[z, cols[p]] / sqrt(deg z)``; rows sorted."""
        rows, cols = _i64(rows), _i64(cols)
        out = np.empty(rows.shape[0], dtype=np.float32)
        indptr, indices = _i64(two_hop.indptr), np.ascontiguousarray(two_hop.indices, dtype=np.int32)
        data = np.ascontiguousarray(two_hop.data, dtype=np.float32)
        self.lib.pymk_l3(
            two_hop.shape[0],
            _p(indptr),
            _p(indices),
            _p(data),
            rows.shape[0],
            _p(rows),
            _p(cols),
            _p(self.indptr),
            _p(self.indices),
            _p(self.inv_sqrtdeg),
            _p(self.hub),
            _p(self.hub_bits),
            self.hub_bits.shape[1],
            _p(self._scratch.get("l3", self.n, np.float64)),
            _p(out),
        )
        return out

    def candidates(
        self,
        users: np.ndarray,
        known: np.ndarray,
        fof: sp.csr_matrix,
        k_fof: int,
        ppr: sp.csr_matrix,
        k_ppr: int,
        shared: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Merged candidate pairs ``(rows, cols)`` int64, sorted by row then column: per user the ``k_fof``
        best of its ``fof`` row, the ``k_ppr`` best of its ``ppr`` row (ties: lower column) and the users
        of ``shared`` (the same for everyone), each kept only when known, not the user and not a
        neighbour (:class:`pymk.candidates.sources.CandidateGenerator` without its ``gnn`` source).
        ``known``: uint8 ``(n,)``; ``fof``/``ppr``: canonical float32 CSR rows of ``users``."""
        users = _i64(users)
        b, s = users.shape[0], self._scratch
        shared = np.ascontiguousarray(shared, dtype=np.int32)
        fof_indptr, ppr_indptr = _i64(fof.indptr), _i64(ppr.indptr)
        fof_data, ppr_data = (np.ascontiguousarray(a.data, dtype=np.float32) for a in (fof, ppr))
        fof_indices, ppr_indices = (np.ascontiguousarray(a.indices, dtype=np.int32) for a in (fof, ppr))
        cap = b * (k_fof + k_ppr + shared.shape[0])
        rows = np.empty(cap, dtype=np.int64)
        cols = np.empty(cap, dtype=np.int64)
        m = self.lib.pymk_candidates(
            b,
            _p(users),
            _p(self.indptr),
            _p(self.indices),
            _p(known),
            _p(fof_indptr),
            _p(fof_indices),
            _p(fof_data),
            k_fof,
            _p(ppr_indptr),
            _p(ppr_indices),
            _p(ppr_data),
            k_ppr,
            shared.shape[0],
            _p(shared),
            _p(s.get("mark", self.n, np.uint8)),
            _p(s.get("scored", 2 * self.n, np.int32)),
            _p(s.get("picked", self.n, np.int32)),
            cap,
            _p(rows),
            _p(cols),
        )
        if m < 0:  # the cap is the sum of the budgets: cannot happen
            raise RuntimeError("candidates kernel overflow")
        return rows[:m], cols[:m]

    def pair_features(
        self,
        users: np.ndarray,
        rows: np.ndarray,
        cols: np.ndarray,
        two_hop: dict[str, np.ndarray],
        pattern: sp.csr_matrix,
        l3: np.ndarray,
        embedding: np.ndarray,
        gnn_vectors: np.ndarray | None,
        ppr: sp.csr_matrix,
        user_features: np.ndarray,
        query_cols: np.ndarray,
        width: int,
    ) -> np.ndarray:
        """float32 ``(m, width)``: the rows of :func:`pymk.features.pairs.pair_features` (see
        ``pymk_pair_features`` in ``_kernels.c`` for the columns); ``two_hop``/``pattern`` as from
        :meth:`neighbourhood`, ``embedding`` and ``gnn_vectors`` (or ``None``: zeros) float32 ``(n, d)``,
        ``user_features`` float32 ``(n, f)``."""
        # Every array handed to C is bound to a name here: a temporary converted inside the call's
        # argument list would be freed before the call (only its address would survive).
        users, rows, cols = _i64(users), _i64(rows), _i64(cols)
        out = np.empty((rows.shape[0], width), dtype=np.float32)
        emb = np.ascontiguousarray(embedding, dtype=np.float32)
        gvec = None if gnn_vectors is None else np.ascontiguousarray(gnn_vectors, dtype=np.float32)
        query_cols = _i64(query_cols)
        two_indptr, two_indices = _i64(pattern.indptr), np.ascontiguousarray(pattern.indices, dtype=np.int32)
        l3 = np.ascontiguousarray(l3, dtype=np.float32)
        ppr_indptr, ppr_indices = _i64(ppr.indptr), np.ascontiguousarray(ppr.indices, dtype=np.int32)
        ppr_data = np.ascontiguousarray(ppr.data, dtype=np.float32)
        user_features = np.ascontiguousarray(user_features, dtype=np.float32)
        self.lib.pymk_pair_features(
            users.shape[0],
            _p(users),
            rows.shape[0],
            _p(rows),
            _p(cols),
            _p(two_indptr),
            _p(two_indices),
            *(_p(two_hop[name]) for name in ("cn", "aa", "ra", "wra")),
            _p(l3),
            _p(emb),
            emb.shape[1],
            None if gvec is None else _p(gvec),
            0 if gvec is None else gvec.shape[1],
            _p(ppr_indptr),
            _p(ppr_indices),
            _p(ppr_data),
            _p(self.degree32),
            _p(user_features),
            user_features.shape[1],
            _p(query_cols),
            query_cols.shape[0],
            width,
            _p(out),
        )
        return out


#: Users of at least this degree get a neighbour bitset (``l3`` tests 2-hop users against it) ...
HUB_DEGREE = 256
#: ... up to this many bytes of bitsets in all, highest degrees first (64 MB: 512 hubs at 1M users). Lower
#: degrees made real time slower on sx-askubuntu (64: 725 hubs, 12 MB of bitsets crowding the caches).
HUB_BYTES = 64 << 20


def _hub_bitsets(indptr: np.ndarray, indices: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(hub, bits)``: int32 ``(n,)`` row of each hub in ``bits`` (-1: none) and uint8 ``(hubs, ceil(n/8))``
    neighbour bitsets (bit ``z & 7`` of byte ``z >> 3``) of the highest-degree users."""
    degree = np.diff(indptr)
    row_bytes = (n + 7) // 8
    count = min(int((degree >= HUB_DEGREE).sum()), HUB_BYTES // max(row_bytes, 1))
    hubs = np.argsort(-degree, kind="stable")[:count]
    hub = np.full(n, -1, dtype=np.int32)
    hub[hubs] = np.arange(count, dtype=np.int32)
    bits = np.zeros((count, row_bytes), dtype=np.uint8)
    dense = np.zeros(row_bytes * 8, dtype=bool)
    for h, u in enumerate(hubs.tolist()):
        neighbours = indices[indptr[u] : indptr[u + 1]]
        dense[neighbours] = True
        bits[h] = np.packbits(dense, bitorder="little")
        dense[neighbours] = False
    return hub, bits


def lookup(matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """int64 ``(m,)``: position of ``(rows[p], cols[p])`` in canonical CSR ``matrix`` (``-1``: absent)."""
    lib = _library()
    rows, cols = _i64(rows), _i64(cols)
    out = np.empty(rows.shape[0], dtype=np.int64)
    indptr, indices = _i64(matrix.indptr), np.ascontiguousarray(matrix.indices, dtype=np.int32)
    lib.pymk_lookup(_p(indptr), _p(indices), rows.shape[0], _p(rows), _p(cols), _p(out))
    return out


def core_numbers(adjacency: sp.csr_matrix) -> np.ndarray:
    """int64 ``(n,)``: k-core numbers of the symmetric ``adjacency`` (no self-loops) — the C form of
    :func:`pymk.features.centrality.core_numbers`, linear in the edges."""
    lib = _library()
    n = int(adjacency.shape[0])
    indptr, indices = _i64(adjacency.indptr), np.ascontiguousarray(adjacency.indices, dtype=np.int32)
    core = np.diff(indptr).astype(np.int64)
    max_deg = int(core.max()) if n else 0
    bins = np.empty(max_deg + 1, dtype=np.int64)
    pos, vert = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    lib.pymk_core_numbers(n, _p(indptr), _p(indices), max_deg, _p(core), _p(bins), _p(pos), _p(vert))
    return core


def ra_guesses(adjacency: sp.csr_matrix, want: np.ndarray) -> sp.csr_matrix:
    """0/1 CSR ``(n, n)``: row ``u`` holds ``u``'s ``want[u]`` best non-neighbours (not ``u``) by resource
    allocation on the symmetric 0/1 ``adjacency``, ties to the lower index — the C form of
    :func:`pymk.features.completion.guesses`."""
    lib = _library()
    n = int(adjacency.shape[0])
    indptr, indices = _i64(adjacency.indptr), np.ascontiguousarray(adjacency.indices, dtype=np.int32)
    inv_deg = 1.0 / np.maximum(np.diff(indptr), 1).astype(np.float64)
    want = _i64(np.maximum(want, 0))
    slots = np.concatenate([[0], np.cumsum(want)]).astype(np.int64)
    out = np.empty(int(slots[-1]), dtype=np.int32)
    counts = np.empty(n, dtype=np.int64)
    scratch, touched = np.zeros(n, dtype=np.float64), np.empty(n, dtype=np.int32)
    lib.pymk_ra_guesses(
        n,
        _p(indptr),
        _p(indices),
        _p(inv_deg),
        _p(want),
        _p(slots),
        _p(scratch),
        _p(touched),
        _p(out),
        _p(counts),
    )
    keep = np.arange(out.shape[0]) - np.repeat(slots[:-1], want) < np.repeat(counts, want)
    rows = np.repeat(np.arange(n, dtype=np.int64), counts)
    return sp.csr_matrix((np.ones(rows.shape[0]), (rows, out[keep])), shape=(n, n))


class WeightedPairs(_Kernels):
    """``pymk_completed`` on one weighted symmetric graph: CSR ``graph`` ``(n, n)`` (its weights used;
    indices sorted here if they are not) and ``inv_strength`` float ``(n,)``, one over each user's
    weighted degree (:class:`pymk.features.completion.CompletedGraph`)."""

    def __init__(self, graph: sp.csr_matrix, inv_strength: np.ndarray) -> None:
        self._attach()
        if not graph.has_sorted_indices:
            graph = graph.sorted_indices()
        self.n = int(graph.shape[0])
        self.indptr = _i64(graph.indptr)
        self.indices = np.ascontiguousarray(graph.indices, dtype=np.int32)
        self.data = np.ascontiguousarray(graph.data, dtype=np.float64)
        self.inv_strength = np.ascontiguousarray(inv_strength, dtype=np.float64)

    def at(self, users: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """float32 ``(m, 2)``: ``(sum_w D[u,w] D[w,c] inv_strength[w], sum_w D[u,w] D[w,c])`` of pairs
        ``(users[rows[p]], cols[p])``, ``rows`` sorted."""
        users, rows, cols = _i64(users), _i64(rows), _i64(cols)
        out = np.empty((rows.shape[0], 2), dtype=np.float32)
        self.lib.pymk_completed(
            users.shape[0],
            _p(users),
            rows.shape[0],
            _p(rows),
            _p(cols),
            _p(self.indptr),
            _p(self.indices),
            _p(self.data),
            _p(self.inv_strength),
            _p(self._scratch.get("completed", 2 * self.n, np.float64)),
            _p(self._scratch.get("completed_touched", self.n, np.int32)),
            _p(out),
        )
        return out
