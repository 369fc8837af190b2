"""The event-stream interfaces: a source the worker consumes and a sink producers publish to.

A source delivers raw records (opaque payload bytes, exactly as published: parsing and validation are
the worker's job) **at least once**. Its delivery contract, shared by every implementation and checked by
one contract suite (``tests/stream/test_source_contract.py``):

- ``poll`` returns records in publication order per key (per partition for Kafka, per stream for Redis,
  per file for JSONL); it returns as soon as at least one record is available, or ``[]`` after
  ``timeout`` seconds.
- ``ack`` after the caller has *applied* a record. A record that was never acked is delivered again
  when a consumer of the same group starts after this one stopped (closed, crashed or was killed):
  at-least-once. An acked record is not delivered again to that group, unless an earlier record of
  the same key was left un-acked (ordered sources such as Kafka and the file source commit positions,
  so only the acked *prefix* of each partition is durable; acking out of order is allowed and safe).
- Several consumers of one group split the records between them without duplicates (the file source
  allows one consumer per group and refuses a second one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Record:
    """One delivered record.

    ``id`` is the source's position of the record, unique within a source: ``"<line>"`` for a file,
    the entry id (``"1700000000000-0"``) for Redis Streams, ``"<partition>:<offset>"`` for Kafka.
    ``key`` is the ordering key the producer gave (``None`` when it gave none or the source keeps none).
    """

    id: str
    payload: bytes
    key: bytes | None = None


@runtime_checkable
class EventSource(Protocol):
    """A consumer of one stream within one consumer group. Not thread-safe: one caller at a time."""

    def poll(self, max_records: int = 1000, timeout: float = 1.0) -> list[Record]:
        """Up to ``max_records`` records; waits at most ``timeout`` seconds for the first one.

        Raises :class:`~pymk.errors.ServiceUnavailable` when the backing service cannot be reached.
        """
        ...

    def ack(self, records: Sequence[Record]) -> None:
        """Mark ``records`` (returned by this consumer's ``poll``) as applied; durable on return."""
        ...

    def lag(self) -> int | None:
        """Records of the stream the group has not acked yet (delivered or not): the backlog, for
        metrics. ``None`` when the backend cannot tell right now. Costs a round trip or a scan of the
        file's unacked tail: call it on a metrics interval, not per record."""
        ...

    def close(self) -> None:
        """Stop consuming. Records delivered but not acked go to the next consumer of the group."""
        ...


@runtime_checkable
class EventSink(Protocol):
    """A producer to one stream."""

    def publish(self, payloads: Sequence[bytes], keys: Sequence[bytes | None] | None = None) -> None:
        """Append ``payloads`` in order; ``keys[i]`` is the ordering key of ``payloads[i]``.

        Records with the same key are consumed in the order published. Durable (acknowledged by the
        broker, or written to the file) when it returns; raises
        :class:`~pymk.errors.ServiceUnavailable` otherwise.
        """
        ...

    def close(self) -> None:
        """Flush and release the connection."""
        ...


def check_keys(payloads: Sequence[bytes], keys: Sequence[bytes | None] | None) -> Sequence[bytes | None]:
    """``keys``, or ``None`` for each payload; raises ``ValueError`` when the lengths differ."""
    if keys is None:
        return [None] * len(payloads)
    if len(keys) != len(payloads):
        raise ValueError(f"{len(keys)} keys for {len(payloads)} payloads")
    return keys
