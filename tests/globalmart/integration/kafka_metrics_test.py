"""The broker's JMX exporter agent serves Kafka and JVM metrics that Prometheus scrapes."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

from globalmart.core.settings import Settings
from globalmart.stack.kafka import TopicSpec, create_topics, delete_topics
from globalmart.stack.testing import unique_name


def _scrape(settings: Settings) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    url = f"http://{settings.kafka_host}:{settings.kafka_jmx_exporter_port}/metrics"
    response = httpx.get(url, timeout=10.0, trust_env=False)
    response.raise_for_status()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_exporter_serves_broker_topic_and_jvm_metrics(live_stack: Callable[..., Settings]) -> None:
    settings = live_stack("kafka")
    # Per-topic series exist only for our naming pattern (`*-topic`), so the test topic follows it.
    topic = unique_name("jmx") + "-topic"
    create_topics(settings.kafka_bootstrap_servers, [TopicSpec(topic, 1, 1)])
    try:
        producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers})
        for i in range(25):
            producer.produce(topic, value=b"x" * 100, key=str(i).encode())
        assert producer.flush(15) == 0

        # The broker's meters are read on each scrape; allow for the produce to land first.
        deadline = time.monotonic() + 20
        while True:
            metrics = _scrape(settings)
            per_topic = metrics.get(
                ("kafka_server_brokertopicmetrics_messagesin_total", (("topic", topic),))
            )
            if per_topic == 25 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        delete_topics(settings.kafka_bootstrap_servers, [topic])

    assert per_topic == 25
    assert metrics[("kafka_server_brokertopicmetrics_messagesin_total", ())] >= 25
    assert metrics[("kafka_server_brokertopicmetrics_bytesin_total", (("topic", topic),))] > 2500
    assert metrics[("kafka_server_replicamanager_underreplicatedpartitions", ())] == 0
    assert metrics[("kafka_controller_kafkacontroller_activecontrollercount", ())] == 1
    names = {name for name, _ in metrics}
    assert "kafka_network_requestmetrics_requests_total" in names
    assert "kafka_log_log_logendoffset" in names
    # The agent's own JVM metrics.
    assert metrics[("jvm_memory_used_bytes", (("area", "heap"),))] > 0
    assert "jvm_gc_collection_seconds_count" in names
    assert "jvm_threads_current" in names
