"""Where each event kind goes: the spec's topics, or a prefixed copy of them (tests, experiments).

The registry subject stays the spec topic's (`transactions-topic-value`) whatever the prefix, so a
prefixed run sends exactly the bytes a normal run would: same schema ids, same framing.
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka.admin import AdminClient

from globalmart.core.settings import Settings
from globalmart.generators.config import KINDS
from globalmart.schemas.catalog import DLQ_SUFFIX, Catalog
from globalmart.stack.kafka import TopicSpec, create_topics


class TopicError(RuntimeError):
    """A topic we need is missing and was not ours to create."""


@dataclass(frozen=True)
class Route:
    kind: str
    #: the topic in the contract (`transactions-topic`): names the registry subject
    spec_topic: str
    #: the topic written to (the spec topic, or prefix + spec topic)
    topic: str

    @property
    def dlq_topic(self) -> str:
        return f"{self.topic}{DLQ_SUFFIX}"

    @property
    def subject(self) -> str:
        return f"{self.spec_topic}-value"

    @property
    def dlq_subject(self) -> str:
        return f"{self.spec_topic}{DLQ_SUFFIX}-value"


def routes(catalog: Catalog, prefix: str = "") -> dict[str, Route]:
    """kind -> Route for the three event kinds, from the contracts' `topic` attributes."""
    found = {}
    for kind in KINDS:
        topic = catalog.entry(kind).latest.topic
        if not topic:
            raise TopicError(f"schema {kind} names no topic")
        found[kind] = Route(kind, topic, f"{prefix}{topic}")
    return found


def ensure_topics(settings: Settings, all_routes: dict[str, Route], create: bool) -> list[str]:
    """Check the event and dead-letter topics exist; create them when `create` (prefixed runs).

    Returns the topics created. Spec topics are the stack's (`stack up` creates them); a
    missing one there means the stack is not up, which is an error, not something to paper over.
    """
    wanted = [name for r in all_routes.values() for name in (r.topic, r.dlq_topic)]
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    try:
        existing = set(admin.list_topics(timeout=10).topics)
    except Exception as exc:  # KafkaException: broker unreachable
        raise TopicError(
            f"Kafka at {settings.kafka_bootstrap_servers} unreachable ({exc}); "
            "start it with `stack up kafka`"
        ) from exc
    missing = [name for name in wanted if name not in existing]
    if not missing:
        return []
    if not create:
        raise TopicError(
            f"missing topic(s) {', '.join(missing)}; `stack up kafka` creates the spec topics "
            "(or pass --create-topics)"
        )
    specs = [
        TopicSpec(
            name,
            1 if name.endswith(DLQ_SUFFIX) else settings.kafka_topic_partitions,
            (
                settings.kafka_dlq_retention_hours
                if name.endswith(DLQ_SUFFIX)
                else settings.kafka_retention_hours
            ),
        )
        for name in missing
    ]
    return create_topics(settings.kafka_bootstrap_servers, specs)
