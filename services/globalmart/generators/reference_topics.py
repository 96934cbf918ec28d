"""Optional: publish the reference data to compacted Kafka topics, one record per id.

Jobs do not need this: `globalmart.generators.reference` computes any record from its id and the
seed. The topics are for consumers outside Python (or outside this repository) that want the
catalog as data: `reference-users`, `reference-products`, `reference-categories` and
`reference-countries`, keyed by the record's primary key, values in Avro with Confluent framing.
The reference schemas live in the registry's `globalmart.reference` group (native API); their
content id is the id the Confluent-compatible API serves them under, so any Confluent
AvroDeserializer reads these values.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from confluent_kafka import Producer

from globalmart.core.settings import Settings
from globalmart.generators.codec import compile_encoder, confluent_header
from globalmart.generators.reference import Reference
from globalmart.generators.wire import RegistryLookupError
from globalmart.schemas.catalog import SchemaVersion, canonical_json, load_catalog
from globalmart.schemas.registry import NATIVE, Registry, RegistryError
from globalmart.stack.kafka import TopicSpec, create_topics

#: reference record name -> topic (before the prefix)
TOPICS: dict[str, str] = {
    "user": "reference-users",
    "product": "reference-products",
    "category": "reference-categories",
    "country": "reference-countries",
}


def content_id(registry: Registry, version: SchemaVersion) -> int:
    """The registry's content id of this reference schema version (its Confluent id)."""
    group = f"globalmart.{version.kind}"
    try:
        response = registry.http.get(
            f"{NATIVE}/groups/{group}/artifacts/{version.name}/versions/{version.version}"
        )
        if response.status_code != 200:
            raise RegistryError(f"HTTP {response.status_code}: {response.text[:200]}")
        found = int(response.json()["contentId"])
        text = registry.content(group, version.name, version.version)
    except (RegistryError, KeyError, ValueError, OSError) as exc:
        raise RegistryLookupError(
            f"{group}/{version.name} v{version.version} not in the registry ({exc}); "
            "run `schemas register`"
        ) from exc
    if canonical_json(json.loads(text)) != version.canonical:
        raise RegistryLookupError(f"{group}/{version.name}: the registry holds other content")
    return found


def publish_reference(
    settings: Settings, seed: int, users: int, products: int, prefix: str = ""
) -> dict[str, int]:
    """Write every reference record to its compacted topic; returns topic -> records delivered."""
    catalog = load_catalog()
    reference = Reference(seed)
    sources: dict[str, Iterable[dict[str, Any]]] = {
        "country": reference.countries(),
        "category": reference.categories(),
        "user": reference.users(users),
        "product": reference.products(products),
    }
    topics = {name: f"{prefix}{topic}" for name, topic in TOPICS.items()}
    create_topics(
        settings.kafka_bootstrap_servers,
        [
            TopicSpec(
                topic,
                settings.kafka_topic_partitions if name in ("user", "product") else 1,
                settings.kafka_retention_hours,
                config={"cleanup.policy": "compact"},
            )
            for name, topic in topics.items()
        ],
    )
    delivered = {topic: 0 for topic in topics.values()}
    failures: list[str] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is None:
            delivered[msg.topic()] += 1
        else:
            failures.append(str(err))

    producer = Producer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 50,
            "on_delivery": on_delivery,
        }
    )
    with Registry.from_settings(settings) as registry:
        for name, records in sources.items():
            version = catalog.entry(name).latest
            encode = compile_encoder(version.data, confluent_header(content_id(registry, version)))
            key_field = version.primary_key[0]
            for record in records:
                while True:
                    try:
                        producer.produce(topics[name], encode(record), str(record[key_field]))
                        break
                    except BufferError:
                        producer.poll(0.1)
                producer.poll(0)
    left = producer.flush(120)
    if failures or left:
        raise RuntimeError(
            f"{len(failures)} reference record(s) failed, {left} unacknowledged: "
            f"{failures[:1] or ''}"
        )
    return delivered
