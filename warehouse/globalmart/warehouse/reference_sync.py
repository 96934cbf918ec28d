"""Snapshots of the published reference data, for the dimensions.

`generate reference` publishes every user, product, category and country to compacted Kafka
topics (globalmart.generators.reference_topics), Avro with the Confluent header. The nightly ETL
copies what is new there into Parquet under <reference root>/<entity>/, decoded with the writer
schema the header names (the `reference` Avro schemas, by their registry content id) and read as
the latest schema. Catalog topics are small (one record per id): a plain consumer reads them, and
Spark writes the copy. Each copy is one file named after the offsets it ends at
(`kafka-<partition>_<next offset>.<...>-00000.parquet`), so the next run starts where the last
one stopped, on any Hadoop file system, and a crash before the rename simply repeats the copy.
Records keep their `updated_at`: dims.py turns a changed record into a new dimension version.
Messages that cannot be decoded go to the real-time `dead_letters` table, verbatim, with the
reason; nothing is dropped silently.
"""

from __future__ import annotations

import io
import logging
import re
import struct
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from fastavro import parse_schema, schemaless_reader
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from globalmart.core import offsets
from globalmart.core.settings import Settings
from globalmart.generators.reference_topics import TOPICS, content_id
from globalmart.generators.wire import RegistryLookupError
from globalmart.schemas.catalog import load_catalog
from globalmart.schemas.registry import Registry
from globalmart.warehouse.archive import dead_letter
from globalmart.warehouse.frames import table_schema
from globalmart.warehouse.hadoopfs import HadoopFS

log = logging.getLogger(__name__)

FAILED_BY = "reference_snapshot"
_NAME = re.compile(r"kafka-((?:\d+_\d+\.)*\d+_\d+)-\d+\.parquet$")
_HEADER = 5
_READ_TIMEOUT_S = 120


def watermarks(settings: Settings, topic: str) -> dict[int, tuple[int, int]] | None:
    """(low, high) offsets per partition, or None when the topic does not exist."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": f"globalmart-{FAILED_BY}",
            "enable.auto.commit": False,
        }
    )
    try:
        return offsets.partition_watermarks(consumer, topic, timeout=15)
    finally:
        consumer.close()


def copied_up_to(fs: HadoopFS, folder: str) -> dict[int, int]:
    """Per partition, the next offset after the last copied one (from the snapshot file names)."""
    done: dict[int, int] = {}
    for path in fs.glob(f"{folder}/kafka-*.parquet"):
        match = _NAME.search(path)
        if match is None:
            continue
        for pair in match.group(1).split("."):
            partition, offset = (int(x) for x in pair.split("_"))
            done[partition] = max(done.get(partition, 0), offset)
    return done


def start_offsets(marks: Mapping[int, tuple[int, int]], done: Mapping[int, int]) -> dict[int, int]:
    """Where to resume per partition: after the last copy, or at the low watermark when that
    offset is gone (compacted, or the topic was re-created)."""
    return {
        p: done[p] if p in done and low <= done[p] <= high else low
        for p, (low, high) in marks.items()
    }


def writer_schemas(registry: Registry, entity: str) -> dict[int, Any]:
    """Registry content id -> parsed schema, of every registered version of the entity."""
    writers: dict[int, Any] = {}
    for version in load_catalog().entry(entity).versions:
        try:
            writers[content_id(registry, version)] = parse_schema(version.data)
        except RegistryLookupError:
            continue  # a version nobody registered cannot have written anything
    if not writers:
        raise RegistryLookupError(f"no version of reference/{entity} is registered")
    return writers


def read_new(
    settings: Settings, topic: str, start: Mapping[int, int], end: Mapping[int, int]
) -> list[Any]:
    """The messages of `topic` from `start` up to (excluding) `end`, per partition. Catalog
    topics are small: a plain consumer is faster than a Spark job for them."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": f"globalmart-{FAILED_BY}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    todo = {p: end[p] for p in end if start[p] < end[p]}
    consumer.assign([TopicPartition(topic, p, start[p]) for p in todo])
    messages: list[Any] = []
    deadline = time.monotonic() + _READ_TIMEOUT_S
    try:
        while todo:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: offsets {todo} not reached in {_READ_TIMEOUT_S}s")
            for message in consumer.consume(1000, timeout=0.25):
                if message.error() is not None:
                    raise RuntimeError(f"{topic}: {message.error()}")
                offset, partition = message.offset(), message.partition()
                if offset is not None and partition is not None and offset < end[partition]:
                    messages.append(message)
            # Compaction leaves gaps: a partition is done once its position reaches the end.
            for tp in consumer.position([TopicPartition(topic, p) for p in list(todo)]):
                if tp.offset >= todo[tp.partition]:
                    del todo[tp.partition]
    finally:
        consumer.close()
    return messages


def decode(message: Any, writers: Mapping[int, Any], reader: Any, key: str) -> Any:
    """(record, None) or (None, why it cannot be read)."""
    value = message.value()
    if not value:
        return None, "empty value"
    if len(value) < _HEADER:
        return None, "shorter than the 5-byte Confluent header"
    if value[0] != 0:
        return None, f"no Confluent header: magic byte 0x{value[0]:02X}"
    schema_id = struct.unpack(">I", value[1:_HEADER])[0]
    if schema_id not in writers:
        return None, f"unknown schema id {schema_id}"
    try:
        record = schemaless_reader(io.BytesIO(value[_HEADER:]), writers[schema_id], reader)
    except Exception:  # noqa: BLE001 - any decoding failure means the same to the reader
        return None, "Avro body does not match its writer schema"
    if not isinstance(record, dict) or record.get(key) is None:
        return None, f"record without {key}"
    return {**record, "schema_id": schema_id}, None


def _dead_letter_row(message: Any, reason: str) -> dict[str, Any]:
    _, millis = message.timestamp()
    return {
        "topic": message.topic(),
        "partition": message.partition(),
        "offset": message.offset(),
        "timestamp": datetime.fromtimestamp(millis / 1000, UTC) if millis and millis > 0 else None,
        "key": message.key(),
        "value": message.value(),
        "_reason": reason,
    }


def copy_topic(
    spark: SparkSession,
    settings: Settings,
    registry: Registry,
    root: str,
    entity: str,
    topic: str,
) -> int:
    """Copy the records `topic` gained since the last copy; returns the records written."""
    marks = watermarks(settings, topic)
    if not marks:
        return 0
    folder = f"{root.rstrip('/')}/{entity}"
    fs = HadoopFS(spark, root)
    start = start_offsets(marks, copied_up_to(fs, folder))
    end = {p: high for p, (_, high) in marks.items()}
    if all(start[p] >= end[p] for p in marks):
        return 0
    entry = load_catalog().entry(entity)
    key = entry.latest.primary_key[0]
    writers, reader = writer_schemas(registry, entity), parse_schema(entry.latest.data)
    latest: dict[str, dict[str, Any]] = {}
    rejected = []
    for message in read_new(settings, topic, start, end):
        record, reason = decode(message, writers, reader, key)
        if record is None:
            rejected.append(_dead_letter_row(message, reason))
            continue
        # Compaction's rule inside one copy: the last record of an id wins.
        latest[record[key]] = {
            **record,
            "kafka_partition": message.partition(),
            "kafka_offset": message.offset(),
        }
    if rejected:
        log.warning("%s: %d message(s) dead-lettered", topic, len(rejected))
        dead_letter(settings, rejected, FAILED_BY, "ReferenceDecodeError")
    schema = T.StructType(
        [
            *table_schema(entity).fields,
            T.StructField("kafka_partition", T.IntegerType()),
            T.StructField("kafka_offset", T.LongType()),
            T.StructField("schema_id", T.LongType()),
        ]
    )
    rows = [tuple(r.get(f.name) for f in schema.fields) for r in latest.values()]
    # Written even when empty: the file name records how far this copy read.
    staging = f"{root.rstrip('/')}/_staging/{uuid.uuid4().hex}"
    spark.createDataFrame(rows, schema).coalesce(1).write.mode("overwrite").parquet(staging)
    name = ".".join(f"{p}_{o}" for p, o in sorted(end.items()))
    fs.mkdirs(folder)
    files = sorted(p for p, d in fs.entries(staging) if not d and p.endswith(".parquet"))
    for number, source in enumerate(files):
        fs.rename(source, f"{folder}/kafka-{name}-{number:05d}.parquet")
    fs.delete(staging, recursive=True)
    return len(rows)


def snapshot_reference(
    spark: SparkSession, settings: Settings, root: str, prefix: str = ""
) -> dict[str, int]:
    """Copy every reference topic's new records under `root`; entity -> records copied.
    Topics that do not exist (nothing published yet) copy nothing."""
    copied: dict[str, int] = {}
    with Registry.from_settings(settings) as registry:
        for entity, topic in TOPICS.items():
            copied[entity] = copy_topic(spark, settings, registry, root, entity, f"{prefix}{topic}")
    return copied
