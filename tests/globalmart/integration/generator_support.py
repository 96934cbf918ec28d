"""Helpers for the generator's integration tests: run into scratch topics, read everything back."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from globalmart.core import offsets
from globalmart.core.settings import Settings
from globalmart.generators.runner import RunOptions, RunSummary, generate
from globalmart.stack.kafka import delete_topics
from globalmart.stack.testing import unique_name

START = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes


def run(settings: Settings, **options: Any) -> RunSummary:
    """A generator run into fresh `<unique>-<spec topic>` topics (no metrics endpoint)."""
    defaults: dict[str, Any] = {
        "rate": 0,
        "seed": 5,
        "start_time": START,
        "topic_prefix": unique_name("gen") + "-",
        "metrics_port": 0,
        "record_run": False,
    }
    return generate(settings, RunOptions(**{**defaults, **options}))


def topics_of(summary: RunSummary) -> list[str]:
    return [t for topic in summary.topics.values() for t in (topic, f"{topic}-dlq")]


def drop_topics(settings: Settings, summary: RunSummary) -> None:
    delete_topics(settings.kafka_bootstrap_servers, topics_of(summary))


def consume_all(settings: Settings, topics: list[str], timeout_s: float = 60.0) -> list[Record]:
    """Every record now in the topics, in partition order (reads up to the high watermarks)."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": unique_name("gen-test"),
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    try:
        wanted: dict[tuple[str, int], int] = {}
        assignment = []
        for topic in topics:
            for partition, (_low, high) in (
                offsets.partition_watermarks(consumer, topic) or {}
            ).items():
                if high > 0:
                    wanted[(topic, partition)] = high
                    assignment.append(TopicPartition(topic, partition, OFFSET_BEGINNING))
        consumer.assign(assignment)
        records: list[Record] = []
        deadline = time.monotonic() + timeout_s
        while wanted and time.monotonic() < deadline:
            for message in consumer.consume(5000, timeout=1.0):
                if message.error():
                    raise RuntimeError(str(message.error()))
                topic, partition = str(message.topic()), int(message.partition() or 0)
                offset, key = int(message.offset() or 0), message.key()
                value = message.value() or b""
                decoded_key = key.decode() if isinstance(key, bytes) else key
                records.append(Record(topic, partition, offset, decoded_key, value))
                if (topic, partition) in wanted and offset + 1 >= wanted[(topic, partition)]:
                    del wanted[(topic, partition)]
        if wanted:
            raise AssertionError(f"timed out reading {sorted(wanted)}")
        return records
    finally:
        consumer.close()


class Decoder:
    """Confluent's own AvroDeserializer: what any consumer of the topics would use."""

    def __init__(self, settings: Settings) -> None:
        self.client = SchemaRegistryClient({"url": settings.schema_registry_ccompat_url})
        self.deserializer = AvroDeserializer(self.client)

    def __call__(self, record: Record) -> dict[str, Any]:
        value = self.deserializer(
            record.value, SerializationContext(record.topic, MessageField.VALUE)
        )
        assert isinstance(value, dict)
        return value
