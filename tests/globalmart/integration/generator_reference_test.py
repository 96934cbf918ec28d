"""The optional compacted reference topics: every record, keyed by id, readable by Confluent's
AvroDeserializer through the registry."""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka.admin import ConfigResource

from globalmart.core.settings import Settings
from globalmart.generators.reference import Reference
from globalmart.generators.reference_topics import TOPICS, publish_reference
from globalmart.stack.kafka import admin_client, delete_topics
from globalmart.stack.testing import unique_name

from .generator_support import Decoder, consume_all


def test_reference_topics_hold_every_record(live_stack: Callable[..., Settings]) -> None:
    settings = live_stack("kafka", "apicurio")
    prefix = unique_name("gen-ref") + "-"
    topics = {name: f"{prefix}{topic}" for name, topic in TOPICS.items()}
    try:
        counts = publish_reference(settings, seed=42, users=300, products=200, prefix=prefix)
        assert counts == {
            topics["user"]: 300,
            topics["product"]: 200,
            topics["category"]: 100,
            topics["country"]: 5,
        }
        records = consume_all(settings, list(topics.values()))
        decode = Decoder(settings)
        reference = Reference(42)
        users = [decode(r) for r in records if r.topic == topics["user"]]
        assert len(users) == 300
        by_id = {u["user_id"]: u for u in users}
        expected = reference.user(123)
        got = by_id["U00000123"]
        assert got["email"] == expected["email"] and got["country"] == expected["country"]
        products = {decode(r)["product_id"]: r for r in records if r.topic == topics["product"]}
        assert products["P000042"].key == "P000042"
        admin = admin_client(settings.kafka_bootstrap_servers)  # keep it alive for the future
        config = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topics["user"])])
        entries = next(iter(config.values())).result(timeout=30)
        assert entries["cleanup.policy"].value == "compact"
    finally:
        delete_topics(settings.kafka_bootstrap_servers, list(topics.values()))
