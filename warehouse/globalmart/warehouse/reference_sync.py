"""Snapshots of the published reference data, for the dimensions.

`generate reference` publishes every user, product, category and country to compacted Kafka
topics (globalmart.generators.reference_topics), Avro with the Confluent header. The nightly ETL
copies what is new there into Parquet under <reference root>/<entity>/, decoded with the writer
schema the header names (the `reference` Avro schemas, by their registry content id) and read as
the latest schema. Each copy is one file named after the offsets it ends at
(`kafka-<partition>_<next offset>.<...>-00000.parquet`), so the next run starts where the last
one stopped, on any Hadoop file system, and a crash before the rename simply repeats the copy.
Records keep their `updated_at`: dims.py turns a changed record into a new dimension version.
Messages that cannot be decoded go to the real-time `dead_letters` table, verbatim, with the
reason; nothing is dropped silently.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Mapping

from confluent_kafka import Consumer, TopicPartition
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from globalmart.core.settings import Settings
from globalmart.generators.reference_topics import TOPICS, content_id
from globalmart.generators.wire import RegistryLookupError
from globalmart.schemas.catalog import load_catalog
from globalmart.schemas.registry import Registry, registry_text
from globalmart.warehouse.archive import (
    Decoder,
    dead_letter,
    event_struct,
    header_schema_id,
    rejection_reason,
)
from globalmart.warehouse.hadoopfs import HadoopFS

log = logging.getLogger(__name__)

FAILED_BY = "reference_snapshot"
_NAME = re.compile(r"kafka-((?:\d+_\d+\.)*\d+_\d+)-\d+\.parquet$")


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
        found = consumer.list_topics(topic, timeout=15).topics.get(topic)
        if found is None or found.error is not None:
            return None
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15)
            for p in sorted(found.partitions)
        }
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


def _decoder(registry: Registry, entity: str) -> Decoder:
    entry = load_catalog().entry(entity)
    writers: dict[int, str] = {}
    for version in entry.versions:
        try:
            writers[content_id(registry, version)] = registry_text(version)
        except RegistryLookupError:
            continue  # a version nobody registered cannot have written anything
    if not writers:
        raise RegistryLookupError(f"no version of reference/{entity} is registered")
    return Decoder(entity, registry_text(entry.latest), writers)


def _latest_per_id(good: DataFrame, key: str) -> DataFrame:
    """Compaction's rule inside one copy: the last record of an id wins."""
    last = Window.partitionBy(key).orderBy(F.col("kafka_partition"), F.col("kafka_offset").desc())
    return good.withColumn("_n", F.row_number().over(last)).where("_n = 1").drop("_n")


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
    rows = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", settings.kafka_bootstrap_servers)
        .option("assign", json.dumps({topic: list(marks)}))
        .option("startingOffsets", json.dumps({topic: {str(p): o for p, o in start.items()}}))
        .option("endingOffsets", json.dumps({topic: {str(p): o for p, o in end.items()}}))
        .option("failOnDataLoss", "false")
        .load()
    )
    decoder = _decoder(registry, entity)
    key = load_catalog().entry(entity).latest.primary_key[0]
    decoded = (
        rows.withColumn("_record", event_struct(decoder))
        .withColumn("_reason", rejection_reason(F.col("value"), decoder, F.col("_record"), key))
        .persist()
    )
    try:
        rejected = decoded.where(F.col("_reason").isNotNull()).collect()
        if rejected:
            log.warning("%s: %d message(s) dead-lettered", topic, len(rejected))
            dead_letter(settings, rejected, FAILED_BY, "ReferenceDecodeError")
        good = _latest_per_id(
            decoded.where(F.col("_reason").isNull()).select(
                "_record.*",
                F.col("partition").alias("kafka_partition"),
                F.col("offset").alias("kafka_offset"),
                header_schema_id(F.col("value")).alias("schema_id"),
            ),
            key,
        )
        staging = f"{root.rstrip('/')}/_staging/{uuid.uuid4().hex}"
        good.coalesce(1).write.mode("overwrite").parquet(staging)
        written = spark.read.parquet(staging).count()
        name = ".".join(f"{p}_{o}" for p, o in sorted(end.items()))
        fs.mkdirs(folder)
        files = sorted(p for p, d in fs.entries(staging) if not d and p.endswith(".parquet"))
        for number, source in enumerate(files):
            fs.rename(source, f"{folder}/kafka-{name}-{number:05d}.parquet")
        fs.delete(staging, recursive=True)
    finally:
        decoded.unpersist()
    return written


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
