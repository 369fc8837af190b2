"""The import formats of DESIGN §3 and the event type each one's rows become."""

from __future__ import annotations

from enum import StrEnum

from pymk.events.schema import EventType


class Format(StrEnum):
    """Input file formats ``pymk import`` and ``pymk evaluate`` accept."""

    SNAP_TEMPORAL = "snap-temporal"
    SNAP_STATIC = "snap-static"
    BITCOIN_CSV = "bitcoin-csv"
    EDGES_CSV = "edges-csv"
    EVENTS_JSONL = "events-jsonl"


#: Event type given to the rows of the edge-list formats (events-jsonl rows carry their own).
ROW_TYPE: dict[Format, EventType] = {
    Format.SNAP_TEMPORAL: EventType.MESSAGE,
    Format.SNAP_STATIC: EventType.CONNECT,
    Format.BITCOIN_CSV: EventType.LIKE,
    Format.EDGES_CSV: EventType.MESSAGE,
}

#: One-line description of each format's rows, used in error messages and ``--help``.
SHAPE: dict[Format, str] = {
    Format.SNAP_TEMPORAL: "whitespace-separated 'src dst unix_ts'",
    Format.SNAP_STATIC: "whitespace-separated 'u v'",
    Format.BITCOIN_CSV: "comma-separated 'src,dst,rating,unix_ts'",
    Format.EDGES_CSV: "CSV with a header naming src,dst and optionally ts",
    Format.EVENTS_JSONL: "one JSON event per line (DESIGN §2)",
}
