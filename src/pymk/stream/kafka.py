"""Kafka via confluent-kafka: ``kafka://host:port[,host:port]?topic=pymk.events&group=pymk``.

The source is a group member (``subscribe``): the group's partitions are split between its members
and rebalanced when one joins or leaves. Offsets are committed only by ``ack``
(``enable.auto.commit=false``), synchronously, for the acked prefix of each partition; a consumer that
starts reads from the group's committed offsets, or from the earliest record when the group has none.
Records of a partition that is revoked before they are acked are not committed here: the partition's
next owner delivers them again (at-least-once; the worker's event-id dedupe makes that harmless).

The sink produces with ``acks=all`` and idempotence on (no reordering or duplicates on retry) and
``publish`` flushes before it returns. Records with the same key land on the same partition.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]
from confluent_kafka.cimpl import NewTopic

from pymk.errors import ServiceUnavailable
from pymk.stream._prefix import AckedPrefix
from pymk.stream.base import Record, check_keys

log = logging.getLogger(__name__)

#: Commit failures that only mean "this member lost the partition": its records are redelivered.
_LOST_OWNERSHIP = {
    KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.UNKNOWN_MEMBER_ID,
}


def ensure_topic(bootstrap: str, topic: str, partitions: int, timeout: float = 10.0) -> None:
    """Create ``topic`` with ``partitions`` partitions unless it exists (brokers may not auto-create)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    future = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic]
    try:
        future.result(timeout=timeout)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise ServiceUnavailable(f"cannot create Kafka topic {topic!r}: {exc}") from exc


class KafkaSource:
    """One member of consumer group ``group`` on ``topic`` (see the module docstring)."""

    def __init__(
        self, bootstrap: str, *, topic: str, group: str = "pymk", config: Mapping[str, Any] | None = None
    ) -> None:
        self.topic, self.group = topic, group
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                # Against Tansu, publish->poll took ~200 ms at the default 500 and ~2 ms at 50: an empty
                # fetch seems to be held for the wait although records arrive (Kafka answers at once).
                "fetch.wait.max.ms": 50,
                **(config or {}),
            }
        )
        self._pending: dict[int, AckedPrefix] = {}
        shared = ("security.", "sasl.", "ssl.", "client.")
        self._admin_config = {k: v for k, v in (config or {}).items() if k.startswith(shared)}
        self._admin_config["bootstrap.servers"] = bootstrap
        self._admin: AdminClient | None = None
        self._consumer.subscribe([topic], on_revoke=self._revoked, on_lost=self._revoked)

    def _revoked(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._pending.pop(tp.partition, None)

    def poll(self, max_records: int = 1000, timeout: float = 1.0) -> list[Record]:
        first = self._consumer.poll(timeout)
        if first is None:
            return []
        messages: list[Message] = [first]
        if max_records > 1:
            messages += self._consumer.consume(max_records - 1, 0)  # what is already fetched
        records = []
        for message in messages:
            error = message.error()
            if error is not None:
                if error.fatal():
                    raise ServiceUnavailable(f"Kafka consumer failed: {error}")
                log.warning("kafka consumer: %s", error)  # transient: librdkafka retries
                continue
            partition, offset = message.partition(), message.offset()
            assert partition is not None and offset is not None  # always set on a fetched record
            self._pending.setdefault(partition, AckedPrefix()).deliver(offset)
            records.append(Record(f"{partition}:{offset}", message.value() or b"", message.key()))
        return records

    def ack(self, records: Sequence[Record]) -> None:
        commits: dict[int, int] = {}
        for record in records:
            partition, offset = map(int, record.id.split(":"))
            prefix = self._pending.get(partition)
            moved = None if prefix is None else prefix.ack(offset)  # None: revoked since delivery
            if moved is not None:
                commits[partition] = moved
        if not commits:
            return
        offsets = [TopicPartition(self.topic, p, o) for p, o in sorted(commits.items())]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() in _LOST_OWNERSHIP:
                log.warning("kafka commit after losing the partitions (records will be redelivered): %s", exc)
                return
            raise ServiceUnavailable(f"cannot commit Kafka offsets: {exc}") from exc

    def lag(self) -> int | None:
        """Sum over the topic's partitions of high watermark minus the group's committed offset (the
        low watermark where the group committed nothing). Asked through an admin client: the
        consumer handle's metadata and watermark queries took 0.5 s each here.

        The high watermark is the larger of the broker's answer to ListOffsets and the one the last
        fetch of this consumer carried: Tansu (v0.6.0-510f3e2) answers ListOffsets with one more than
        the *base* offset of the partition's last record batch, short by the batch's other records,
        while its fetch responses are right; on Kafka both agree, the fresher one wins."""
        try:
            if self._admin is None:
                self._admin = AdminClient(self._admin_config)
            topic = self._admin.list_topics(self.topic, timeout=5).topics.get(self.topic)
            if topic is None or topic.error is not None:
                return None
            partitions = [TopicPartition(self.topic, p) for p in topic.partitions]
            committed = self._consumer.committed(partitions, timeout=5)
            low = self._offsets(partitions, OffsetSpec.earliest())  # type: ignore[no-untyped-call]
            high = self._offsets(partitions, OffsetSpec.latest())  # type: ignore[no-untyped-call]
            total = 0
            for tp in committed:
                fetched = self._consumer.get_watermark_offsets(tp, cached=True)  # (-1001, -1001): none
                top = max(high[tp.partition], fetched[1] if fetched else -1)
                total += top - (tp.offset if tp.offset >= 0 else low[tp.partition])
            return total
        except KafkaException as exc:
            log.warning("kafka lag: %s", exc)
            return None

    def _offsets(self, partitions: list[TopicPartition], spec: OffsetSpec) -> dict[int, int]:
        assert self._admin is not None
        futures = self._admin.list_offsets(dict.fromkeys(partitions, spec), request_timeout=5)
        return {tp.partition: future.result().offset for tp, future in futures.items()}

    def close(self) -> None:
        self._consumer.close()


class KafkaSink:
    """Producer to ``topic`` (see the module docstring)."""

    def __init__(
        self,
        bootstrap: str,
        *,
        topic: str,
        config: Mapping[str, Any] | None = None,
        flush_timeout: float = 30.0,
    ) -> None:
        self.topic = topic
        self._flush_timeout = flush_timeout
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 5,
                **(config or {}),
            }
        )

    def publish(self, payloads: Sequence[bytes], keys: Sequence[bytes | None] | None = None) -> None:
        errors: list[KafkaError] = []

        def report(error: KafkaError | None, _message: Message) -> None:
            if error is not None:
                errors.append(error)

        for payload, key in zip(payloads, check_keys(payloads, keys), strict=True):
            while True:
                try:
                    self._producer.produce(self.topic, value=payload, key=key, on_delivery=report)
                    break
                except BufferError:  # local queue full: let deliveries drain
                    self._producer.poll(0.1)
        left = self._producer.flush(self._flush_timeout)
        if left or errors:
            why = errors[0] if errors else f"{left} records not delivered in {self._flush_timeout}s"
            raise ServiceUnavailable(f"cannot publish to Kafka topic {self.topic!r}: {why}")

    def close(self) -> None:
        self._producer.flush(self._flush_timeout)
