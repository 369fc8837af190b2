"""Vectorised construction steps: canonical undirected pairs, interaction aggregation, symmetric CSR.

A *canonical pair table* is ``lo < hi`` int32 arrays sorted by ``(lo, hi)`` with no duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from pymk.graph._arrays import (
    NO_TS,
    UINT32_MAX,
    Int32Array,
    Int64Array,
    UInt32Array,
    entry_keys,
    split_keys,
)


@dataclass(frozen=True)
class PairTable:
    """Aggregated undirected pairs: canonical ``(lo, hi)`` plus per-direction counts and last time.

    All arrays have the same length m; ``count_lo_hi[i]`` counts interactions ``lo[i] → hi[i]``,
    ``count_hi_lo[i]`` the reverse (uint32, saturating), ``last_ts[i]`` is the latest event time of the
    pair in unix seconds (int64, ``NO_TS`` when none).
    """

    lo: Int32Array
    hi: Int32Array
    count_lo_hi: UInt32Array
    count_hi_lo: UInt32Array
    last_ts: Int64Array


def canonical_pairs(u: Int32Array, v: Int32Array) -> tuple[Int32Array, Int32Array]:
    """Undirected pairs ``(u[i], v[i])`` → canonical ``(lo, hi)``: self loops dropped, duplicates merged."""
    keep = u != v
    lo = np.minimum(u[keep], v[keep])
    hi = np.maximum(u[keep], v[keep])
    keys = np.sort(entry_keys(lo, hi))  # value sort (SIMD) is far faster than argsort/np.unique here
    first = np.ones(keys.size, dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    return split_keys(keys[first])


def aggregate_interactions(src: Int32Array, dst: Int32Array, ts: Int64Array | None) -> PairTable:
    """One row per directed interaction ``src[i] → dst[i]`` at ``ts[i]`` → one row per unordered pair.

    Self loops are dropped. ``ts=None`` leaves every ``last_ts`` at ``NO_TS``.
    """
    keep = src != dst
    src, dst = src[keep], dst[keep]
    keys = entry_keys(np.minimum(src, dst), np.maximum(src, dst))
    order = np.argsort(keys)
    keys = keys[order]
    if keys.size == 0:
        empty = np.empty(0, dtype=np.int32)
        none = np.empty(0, dtype=np.uint32)
        return PairTable(empty, empty, none, none, np.empty(0, dtype=np.int64))
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    rows_per_pair = np.diff(np.r_[starts, keys.size])
    forward = np.add.reduceat((src[order] < dst[order]).astype(np.int64), starts)
    if ts is None:
        last = np.full(starts.size, NO_TS, dtype=np.int64)
    else:
        last = np.maximum.reduceat(ts[keep][order], starts).astype(np.int64, copy=False)
    lo, hi = split_keys(keys[starts])
    return PairTable(
        lo=lo,
        hi=hi,
        count_lo_hi=np.minimum(forward, UINT32_MAX).astype(np.uint32),
        count_hi_lo=np.minimum(rows_per_pair - forward, UINT32_MAX).astype(np.uint32),
        last_ts=last,
    )


def symmetric_csr(
    lo: Int32Array, hi: Int32Array, n_nodes: int
) -> tuple[Int64Array, Int32Array, npt.NDArray[np.signedinteger]]:
    """Both directions of canonical pairs as CSR, rows sorted; no Python loop, no global sort.

    Returns ``(indptr, indices, signed_pair)``: ``signed_pair[k] = i + 1`` when entry k is
    ``lo[i] → hi[i]`` and ``-(i + 1)`` when it is ``hi[i] → lo[i]`` (int32 while that fits).

    The upper triangle is already CSR because the pairs are sorted; scipy's ``U - U.T`` transposes it
    with a counting sort and merges the two triangles row by row in C++.
    """
    m = lo.size
    index_dtype = np.int32 if 2 * m <= np.iinfo(np.int32).max else np.int64
    upper_indptr = np.zeros(n_nodes + 1, dtype=index_dtype)
    np.cumsum(np.bincount(lo, minlength=n_nodes), out=upper_indptr[1:])
    ids = np.arange(1, m + 1, dtype=index_dtype)
    upper = sp.csr_array((ids, hi.astype(index_dtype, copy=False), upper_indptr), shape=(n_nodes, n_nodes))
    full = sp.csr_array(upper - upper.T)
    full.sort_indices()  # a no-op check: the canonical merge already sorts rows
    if full.nnz != 2 * m:
        raise AssertionError("pair table was not canonical (duplicates or self loops)")
    return (
        full.indptr.astype(np.int64),
        full.indices.astype(np.int32, copy=False),
        full.data,
    )


def check_canonical(lo: Int32Array, hi: Int32Array) -> None:
    """Raise ``ValueError`` unless ``lo < hi`` everywhere and the pairs are strictly increasing."""
    if lo.shape != hi.shape:
        raise ValueError("lo and hi differ in length")
    if lo.size and not (lo < hi).all():
        raise ValueError("pairs must satisfy lo < hi")
    keys = entry_keys(lo, hi)
    if keys.size > 1 and not (keys[1:] > keys[:-1]).all():
        raise ValueError("pairs must be sorted by (lo, hi) without duplicates")
