"""How far Kafka topics reach: per-partition watermarks and their sums.

One place for what the stream runner, the demo, the reconciliation, the reference sync and the
tests ask the broker. A topic that does not exist (yet), or whose partitions have no leader yet
(just created, or a broker restarting), is reported as such instead of failing the caller.
"""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

#: what a topic answers while it is being created or its leader is moving: "not yet", not an error
NOT_READY = (
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
)


def probe(bootstrap_servers: str, group: str = "globalmart-offsets-probe") -> Consumer:
    """A consumer that only asks for metadata and watermarks (it never joins its group)."""
    return Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": group,
            "enable.auto.commit": False,
        }
    )


def partition_watermarks(
    consumer: Consumer, topic: str, timeout: float = 10.0
) -> dict[int, tuple[int, int]] | None:
    """(low, high) per partition, or None when the topic does not exist or is not ready."""
    found = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
    if found is None or found.error is not None:
        return None
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            for p in sorted(found.partitions)
        }
    except KafkaException as error:
        if error.args[0].code() in NOT_READY:
            return None
        raise


def high_watermarks(
    consumer: Consumer, topics: Iterable[str], timeout: float = 10.0
) -> dict[str, int]:
    """Records per topic so far (the sum of its partitions' high watermarks; 0 if not there)."""
    totals = {}
    for topic in topics:
        marks = partition_watermarks(consumer, topic, timeout)
        totals[topic] = sum(high for _low, high in (marks or {}).values())
    return totals


def end_offsets(
    bootstrap_servers: str, topics: Iterable[str], timeout: float = 10.0
) -> dict[str, int]:
    """high_watermarks with a consumer of its own."""
    consumer = probe(bootstrap_servers)
    try:
        return high_watermarks(consumer, topics, timeout)
    finally:
        consumer.close()
