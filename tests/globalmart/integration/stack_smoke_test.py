"""Round-trip every real component of the local stack over real connections."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
import psycopg
import pytest
import redis
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from pymongo import MongoClient
from typer.testing import CliRunner

from globalmart.cli.main import app
from globalmart.core.settings import Settings, get_settings
from globalmart.stack import stack
from globalmart.stack.kafka import DLQ_TOPICS, EVENT_TOPICS
from globalmart.stack.testing import unique_name

Require = Callable[..., Settings]


def test_kafka_produce_consume_and_spec_topics(live_stack: Require) -> None:
    settings = live_stack("kafka")
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    existing = admin.list_topics(timeout=10).topics
    for topic in [*EVENT_TOPICS, *DLQ_TOPICS]:
        assert topic in existing, f"{topic} was not created at start"
    assert len(existing["transactions-topic"].partitions) == settings.kafka_topic_partitions

    topic = unique_name("smoke")
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(30)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers, "acks": "all"})
    sent = [f"message-{i}".encode() for i in range(20)]
    for value in sent:
        producer.produce(topic, value=value, key=b"k")
    assert producer.flush(30) == 0

    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": unique_name("smoke-group"),
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    received: list[bytes] = []
    deadline = time.monotonic() + 60
    while len(received) < len(sent) and time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is not None and msg.error() is None:
            received.append(msg.value() or b"")
    consumer.close()
    assert received == sent


@pytest.mark.parametrize("database", ["realtime", "warehouse"])
def test_postgres_write_as_writer_read_only_as_reader(live_stack: Require, database: str) -> None:
    settings = live_stack(f"postgres-{database}")
    table = unique_name("smoke").replace("-", "_")
    with psycopg.connect(settings.postgres_dsn(database), autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, at timestamptz NOT NULL)")
        conn.execute(f"INSERT INTO {table} VALUES (1, now())")
        assert conn.execute("SHOW timezone").fetchone() == ("UTC",)
    with psycopg.connect(settings.postgres_dsn(database, reader=True), autocommit=True) as conn:
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (1,)
        # Refused twice over: read-only transactions by default, and no INSERT privilege.
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute(f"INSERT INTO {table} VALUES (2, now())")
        conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"INSERT INTO {table} VALUES (2, now())")
    with psycopg.connect(settings.postgres_dsn(database), autocommit=True) as conn:
        conn.execute(f"DROP TABLE {table}")


def test_redis_set_get(live_stack: Require) -> None:
    settings = live_stack("redis")
    client = redis.Redis(host=settings.redis_host, port=settings.redis_port)
    key = unique_name("smoke")
    client.set(key, b"value", ex=60)
    assert client.get(key) == b"value"
    client.delete(key)


def test_ferretdb_with_pymongo(live_stack: Require) -> None:
    settings = live_stack("ferretdb")
    client: MongoClient = MongoClient(settings.mongo_url, serverSelectionTimeoutMS=5000)
    collection = client[settings.mongo_db][unique_name("smoke")]
    collection.insert_many([{"run": i, "status": "ok"} for i in range(5)])
    assert collection.count_documents({"status": "ok"}) == 5
    assert collection.find_one({"run": 3}, {"_id": 0}) == {"run": 3, "status": "ok"}
    collection.drop()


def test_apicurio_register_and_fetch_schema(live_stack: Require) -> None:
    settings = live_stack("apicurio")
    client = SchemaRegistryClient({"url": settings.schema_registry_ccompat_url})
    subject = unique_name("smoke") + "-value"
    schema_str = json.dumps(
        {
            "type": "record",
            "name": "Smoke",
            "namespace": "globalmart.smoke",
            "fields": [{"name": "id", "type": "string", "doc": "an id"}],
        }
    )
    schema_id = client.register_schema(subject, Schema(schema_str, "AVRO"))
    fetched = client.get_schema(schema_id)
    assert json.loads(fetched.schema_str or "{}")["name"] == "Smoke"
    assert subject in client.get_subjects()
    info = httpx.get(f"{settings.schema_registry_url}/apis/registry/v3/system/info", timeout=10)
    assert info.status_code == 200 and info.json().get("version")


def test_spark_reads_a_kafka_topic(live_stack: Require) -> None:
    settings = live_stack("kafka", "spark")
    from globalmart.spark.session import get_spark

    topic = unique_name("smoke-spark")
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(30)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers})
    for i in range(50):
        producer.produce(topic, key=str(i % 5).encode(), value=str(i).encode())
    assert producer.flush(30) == 0

    spark = get_spark("smoke", settings)
    try:
        frame = (
            spark.read.format("kafka")
            .option("kafka.bootstrap.servers", settings.kafka_bootstrap_servers)
            .option("subscribe", topic)
            .option("startingOffsets", "earliest")
            .load()
        )
        values = sorted(int(row.value.decode()) for row in frame.select("value").collect())
        assert values == list(range(50))
        assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    finally:
        spark.stop()


def test_status_json_reports_every_component(live_stack: Require) -> None:
    settings = live_stack(*stack.component_names(get_settings()))
    result = CliRunner().invoke(app, ["stack", "status", "--json"])
    assert result.exit_code == 0, result.output
    statuses = json.loads(result.stdout)
    assert {s["name"] for s in statuses} == set(stack.component_names(settings))
    for s in statuses:
        assert s["healthy"] is True, s
        assert set(s) >= {"name", "healthy", "host", "port", "version", "pid"}
        assert s["version"]


def test_second_up_reuses_running_components(live_stack: Require) -> None:
    settings = live_stack("redis", "kafka")
    before = {s.name: s.pid for s in stack.status(settings, ["redis", "kafka"])}
    messages: list[str] = []
    stack.up(settings, ["redis", "kafka"], messages.append)
    after = {s.name: s.pid for s in stack.status(settings, ["redis", "kafka"])}
    assert before == after
    assert any("already running" in m for m in messages)
