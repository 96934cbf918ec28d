"""Confluent wire format through Apicurio's ccompat API and a real broker, with schema evolution.

confluent-kafka's AvroSerializer/AvroDeserializer work unchanged against the registry: the
producer frames each record as magic byte + 4-byte schema id + Avro body, the consumer looks the
writer schema up by id and resolves it against its own reader schema.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from globalmart.core.settings import Settings
from globalmart.schemas.catalog import load_catalog
from globalmart.schemas.registry import registry_text
from globalmart.stack.testing import unique_name

Require = Callable[..., Settings]


def _transaction() -> dict[str, Any]:
    return {
        "event_id": "7f1c6a1e-0000-4000-8000-000000000001",
        "event_time": datetime(2026, 11, 24, 12, 0, 5, 123456, tzinfo=UTC),
        "transaction_id": "t-1",
        "user_id": "u-42",
        "session_id": "s-9",
        "country": "DE",
        "payment_method": "paypal",
        "items": [
            {
                "product_id": "p-1",
                "category_id": "c-3",
                "quantity": 2,
                "unit_price": Decimal("19.99"),
                "line_amount": Decimal("39.98"),
            }
        ],
        "total_amount": Decimal("39.98"),
    }


def _fill(schema: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """Complete the event with every remaining field of the real schema (defaults or samples)."""
    record = dict(event)
    for field in schema["fields"]:
        if field["name"] in record:
            continue
        if "default" in field:
            record[field["name"]] = field["default"]
        else:
            raise AssertionError(f"test event lacks required field {field['name']}")
    return record


def _roundtrip_topic(settings: Settings) -> str:
    topic = unique_name("wire")
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(30)
    return topic


def _consume_one(settings: Settings, topic: str) -> bytes:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": unique_name("wire-group"),
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is None and msg.value():
                return bytes(msg.value() or b"")
    finally:
        consumer.close()
    raise AssertionError(f"nothing arrived on {topic}")


def test_event_roundtrip_through_registry_and_broker(live_stack: Require) -> None:
    settings = live_stack("kafka", "apicurio")
    version = load_catalog().entry("transaction").latest
    registry = SchemaRegistryClient({"url": settings.schema_registry_ccompat_url})
    topic = _roundtrip_topic(settings)
    subject = f"{topic}-value"
    registry.register_schema(subject, Schema(registry_text(version), "AVRO"))

    serializer = AvroSerializer(
        registry, registry_text(version), conf={"auto.register.schemas": False}
    )
    event = _fill(version.data, _transaction())
    ctx = SerializationContext(topic, MessageField.VALUE)
    payload = serializer(event, ctx)
    assert payload is not None and payload[0] == 0  # Confluent framing: magic byte 0 + id
    schema_id = int.from_bytes(payload[1:5], "big")
    assert registry.get_schema(schema_id).schema_str is not None

    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers, "acks": "all"})
    producer.produce(topic, key=event["user_id"].encode(), value=payload)
    assert producer.flush(30) == 0

    decoded = AvroDeserializer(registry)(_consume_one(settings, topic), ctx)
    assert decoded == event
    assert decoded["event_time"].tzinfo is not None
    assert decoded["items"][0]["unit_price"] == Decimal("19.99")


def test_old_writer_is_read_with_the_newer_reader_schema(live_stack: Require) -> None:
    settings = live_stack("kafka", "apicurio")
    v1 = load_catalog().entry("transaction").latest
    v1_text = registry_text(v1)
    # A compatible v2 of the same record: one more optional field with a default.
    v2_data = json.loads(v1_text)
    v2_data["fields"].append(
        {"name": "coupon_code", "type": ["null", "string"], "default": None, "doc": "Coupon used."}
    )
    v2_text = json.dumps(v2_data)

    registry = SchemaRegistryClient({"url": settings.schema_registry_ccompat_url})
    topic = _roundtrip_topic(settings)
    subject = f"{topic}-value"
    registry.set_compatibility(subject, "BACKWARD_TRANSITIVE")
    registry.register_schema(subject, Schema(v1_text, "AVRO"))
    registry.register_schema(subject, Schema(v2_text, "AVRO"))
    assert len(registry.get_versions(subject)) == 2

    ctx = SerializationContext(topic, MessageField.VALUE)
    old_writer = AvroSerializer(registry, v1_text, conf={"auto.register.schemas": False})
    event = _fill(v1.data, _transaction())
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers})
    producer.produce(topic, value=old_writer(event, ctx))
    assert producer.flush(30) == 0

    new_reader = AvroDeserializer(registry, v2_text)
    decoded = new_reader(_consume_one(settings, topic), ctx)
    assert decoded["coupon_code"] is None
    assert {k: v for k, v in decoded.items() if k != "coupon_code"} == event
