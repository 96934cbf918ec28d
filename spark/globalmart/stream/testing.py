"""Test and bench support: scratch Postgres schemas, private topics, Confluent-framed Avro.

A run isolates itself with its own topics (schemas registered under `<topic>-value`, as a
producer would) and its own Postgres schema holding the 21 real-time tables, created from the
same catalog DDL as the real ones. Nothing here is used by the pipeline itself.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import fastavro
import httpx
import psycopg
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from globalmart.core import offsets
from globalmart.core.settings import Settings
from globalmart.schemas.catalog import load_catalog
from globalmart.schemas.ddl import create_table, table_extras, table_spec
from globalmart.schemas.registry import registry_text


def create_scratch_schema(settings: Settings, name: str) -> None:
    """A Postgres schema with every real-time table (catalog DDL), for one test run."""
    with psycopg.connect(settings.postgres_dsn("realtime"), connect_timeout=10) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{name}"'.encode())
        conn.execute(f'SET search_path TO "{name}"'.encode())
        for entry in load_catalog().tables("realtime"):
            table = table_spec(entry.latest)
            conn.execute(create_table(table).encode())
            for statement in table_extras(table, None):
                if statement.startswith("CREATE INDEX"):
                    conn.execute(statement.encode())


def drop_scratch_schema(settings: Settings, name: str) -> None:
    with psycopg.connect(settings.postgres_dsn("realtime"), connect_timeout=10) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'.encode())


def fetch_rows(settings: Settings, schema: str, table: str) -> list[dict[str, Any]]:
    with psycopg.connect(settings.postgres_dsn("realtime"), connect_timeout=10) as conn:
        cur = conn.execute(f'SELECT * FROM "{schema}"."{table}"'.encode())
        names = [d.name for d in cur.description or []]
        return [dict(zip(names, r)) for r in cur.fetchall()]


@dataclass
class EventTopics:
    """Private topics for the three events, with their schemas registered."""

    settings: Settings
    prefix: str
    partitions: int = 2

    @property
    def topics(self) -> dict[str, str]:
        return {
            "transaction": f"{self.prefix}-transactions",
            "cart_event": f"{self.prefix}-cart-events",
            "product_view": f"{self.prefix}-product-views",
        }

    def create(self) -> dict[str, int]:
        """Create the topics and register each event schema; returns source -> schema id."""
        admin = AdminClient({"bootstrap.servers": self.settings.kafka_bootstrap_servers})
        futures = admin.create_topics(
            [NewTopic(t, self.partitions, 1) for t in self.topics.values()]
        )
        for future in futures.values():
            future.result(30)
        return {source: self.register(source, topic) for source, topic in self.topics.items()}

    def register(self, source: str, topic: str, text: str | None = None) -> int:
        text = text or registry_text(load_catalog().entry(source).latest)
        response = httpx.post(
            f"{self.settings.schema_registry_ccompat_url}/subjects/{topic}-value/versions",
            json={"schema": text},
            timeout=15,
        )
        response.raise_for_status()
        return int(response.json()["id"])

    def delete(self) -> None:
        admin = AdminClient({"bootstrap.servers": self.settings.kafka_bootstrap_servers})
        for future in admin.delete_topics(list(self.topics.values())).values():
            try:
                future.result(30)
            except Exception:  # noqa: BLE001 - best-effort clean-up
                pass


def encode(schema: Mapping[str, Any], schema_id: int, event: Mapping[str, Any]) -> bytes:
    """Confluent framing: magic byte 0, 4-byte big-endian schema id, Avro body."""
    buffer = io.BytesIO()
    buffer.write(b"\x00" + struct.pack(">I", schema_id))
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(dict(schema)), dict(event))
    return buffer.getvalue()


class EventProducer:
    """Produce events (dicts in the event schema) or raw bytes to the private topics."""

    def __init__(self, topics: EventTopics, schema_ids: Mapping[str, int]) -> None:
        self.topics = topics
        self.schema_ids = dict(schema_ids)
        self.producer = Producer(
            {
                "bootstrap.servers": topics.settings.kafka_bootstrap_servers,
                "enable.idempotence": True,
                "linger.ms": 5,
            }
        )
        catalog = load_catalog()
        self._schemas = {
            source: fastavro.parse_schema(catalog.entry(source).latest.data)
            for source in topics.topics
        }

    def send(self, source: str, event: Mapping[str, Any], partition: int | None = None) -> None:
        buffer = io.BytesIO()
        buffer.write(b"\x00" + struct.pack(">I", self.schema_ids[source]))
        fastavro.schemaless_writer(buffer, self._schemas[source], dict(event))
        self.send_raw(source, buffer.getvalue(), _key(source, event), partition)

    def send_raw(
        self, source: str, value: bytes | None, key: str | None = None, partition: int | None = None
    ) -> None:
        kwargs: dict[str, Any] = {"value": value, "key": key}
        if partition is not None:
            kwargs["partition"] = partition
        self.producer.produce(self.topics.topics[source], **kwargs)
        self.producer.poll(0)

    def flush(self) -> None:
        remaining = self.producer.flush(30)
        if remaining:
            raise RuntimeError(f"{remaining} messages not delivered")


def _key(source: str, event: Mapping[str, Any]) -> str:
    field = load_catalog().entry(source).latest.data.get("key", "event_id")
    return str(event.get(field) or event["event_id"])


def end_offsets(settings: Settings, topics: Iterable[str]) -> dict[str, int]:
    """Total messages per topic (sum of the partitions' high watermarks)."""
    return offsets.end_offsets(settings.kafka_bootstrap_servers, topics)


def normalise(value: Any) -> Any:
    """Comparable form of a database value (Decimal stays exact, datetimes stay aware)."""
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, Decimal):
        return value
    if isinstance(value, datetime):
        return value
    return value


def rows_by_key(
    rows: Sequence[dict[str, Any]], key: Sequence[str]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {tuple(r[k] for k in key): {c: normalise(v) for c, v in r.items()} for r in rows}
