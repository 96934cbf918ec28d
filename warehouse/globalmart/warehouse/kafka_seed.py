"""Produce seed events to Kafka exactly as a generator does: Avro body with the Confluent header
(magic 0 + the registry's schema id of the event's subject). For tests and demos."""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Mapping, Sequence
from typing import Any

import fastavro
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient

from globalmart.core.settings import Settings
from globalmart.schemas.catalog import load_catalog
from globalmart.schemas.registry import registry_text


def create_topics(settings: Settings, topics: Sequence[str], partitions: int = 1) -> None:
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    futures = admin.create_topics([NewTopic(t, partitions, 1) for t in topics])
    for future in futures.values():
        future.result(timeout=30)


def delete_topics(settings: Settings, topics: Sequence[str]) -> None:
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    for future in admin.delete_topics(list(topics)).values():
        try:
            future.result(timeout=30)
        except Exception:  # noqa: BLE001 - best-effort cleanup
            pass


def framed(
    settings: Settings, event_type: str, records: Sequence[Mapping[str, Any]]
) -> list[bytes]:
    """Confluent-framed Avro values of `records` under the subject's latest registered schema."""
    entry = load_catalog().entry(event_type)
    subject = f"{entry.latest.topic}-value"
    client = SchemaRegistryClient({"url": settings.schema_registry_ccompat_url})
    schema_id = client.get_latest_version(subject).schema_id
    parsed = fastavro.parse_schema(json.loads(registry_text(entry.latest)))
    values = []
    for record in records:
        buffer = io.BytesIO()
        buffer.write(b"\x00" + struct.pack(">I", schema_id))
        fastavro.schemaless_writer(buffer, parsed, dict(record))
        values.append(buffer.getvalue())
    return values


def produce(
    settings: Settings,
    topic: str,
    values: Sequence[bytes],
    keys: Sequence[bytes | None] | None = None,
) -> None:
    producer = Producer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
        }
    )
    errors: list[str] = []

    def report(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    for n, value in enumerate(values):
        producer.produce(topic, value=value, key=keys[n] if keys else None, on_delivery=report)
        producer.poll(0)
    producer.flush(30)
    if errors:
        raise RuntimeError(f"{len(errors)} messages not delivered to {topic}: {errors[0]}")
