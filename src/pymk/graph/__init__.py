"""The social graph: an immutable CSR adjacency (``CSRGraph``) and a mutable store on top (``GraphStore``).

Nodes are dense int32 ids ``0..n-1`` (string ids are mapped elsewhere); edges are undirected. Per-pair
stats ride along the CSR entries: ``count_out`` (uint32, interactions row → column, saturating) and
``last_ts`` (int64 unix seconds of the latest connect or interaction either way; ``NO_TS`` for never).
Integer seconds keep times exact and sortable in 8 bytes; event times are floored on the way in.
"""

from pymk.graph._arrays import NO_TS
from pymk.graph._build import PairTable
from pymk.graph.csr import CSRGraph
from pymk.graph.store import DEFAULT_COMPACT_THRESHOLD, GraphStore

__all__ = ["DEFAULT_COMPACT_THRESHOLD", "NO_TS", "CSRGraph", "GraphStore", "PairTable"]
