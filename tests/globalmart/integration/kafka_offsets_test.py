"""Against the real broker: watermarks of a topic with records, an empty one, a missing one."""

from collections.abc import Callable

from confluent_kafka import Producer

from globalmart.core import offsets
from globalmart.core.settings import Settings
from globalmart.stack.kafka import TopicSpec, create_topics, delete_topics
from globalmart.stack.testing import unique_name


def test_watermarks_and_their_sums(live_stack: Callable[..., Settings]) -> None:
    settings = live_stack("kafka")
    bootstrap = settings.kafka_bootstrap_servers
    full, empty, missing = (unique_name(f"offsets-{n}") for n in ("full", "empty", "missing"))
    create_topics(bootstrap, [TopicSpec(full, 3, 1), TopicSpec(empty, 2, 1)])
    try:
        producer = Producer({"bootstrap.servers": bootstrap})
        for n in range(30):
            producer.produce(full, b"x", partition=n % 3)
        assert producer.flush(30) == 0
        consumer = offsets.probe(bootstrap)
        try:
            assert offsets.partition_watermarks(consumer, full) == {p: (0, 10) for p in range(3)}
            assert offsets.partition_watermarks(consumer, empty) == {0: (0, 0), 1: (0, 0)}
            assert offsets.partition_watermarks(consumer, missing) is None
        finally:
            consumer.close()
        assert offsets.end_offsets(bootstrap, [full, empty, missing]) == {
            full: 30,
            empty: 0,
            missing: 0,
        }
    finally:
        delete_topics(bootstrap, [full, empty])
