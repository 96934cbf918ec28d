"""The raw event archive: every event of the three topics, as Parquet partitioned by event date.

One Structured Streaming query reads the topics, strips the 5-byte Confluent header (magic 0 +
4-byte big-endian schema id), decodes the Avro body with the writer schema of that id (Spark's
`from_avro`, evolved to the latest reader schema) and writes
`<base>/<event type>/event_date=YYYY-MM-DD/part-<query>-b<batch>-<n>.parquet`.

Exactly once: each micro-batch is written to a staging folder, then its files are moved to names
derived from the query and batch id, after deleting any file an earlier attempt of the same batch
left. A replayed batch therefore replaces its own files instead of adding copies. Messages that
cannot be decoded are not lost: they go to the real-time `dead_letters` table with the reason
(failed_by = the query name), verbatim. The archive keeps duplicates a producer retry may create;
the batch jobs deduplicate on event_id.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from confluent_kafka.schema_registry import SchemaRegistryClient
from psycopg import sql
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.avro.functions import from_avro
from pyspark.sql.streaming import StreamingQuery

from globalmart.core.settings import Settings
from globalmart.schemas.catalog import load_catalog
from globalmart.schemas.registry import registry_text
from globalmart.warehouse.hadoopfs import HadoopFS
from globalmart.warehouse.layout import PARTITION, archive_root, checkpoint_dir, event_topics

log = logging.getLogger(__name__)

QUERY_NAME = "raw_event_archive"
#: Kafka provenance kept next to each archived event (replay, audit, deduplication order)
PROVENANCE = ("kafka_partition", "kafka_offset", "schema_id")
_HEADER = 5


@dataclass(frozen=True)
class Decoder:
    """How to read one event type: its reader schema and every registered writer schema by id."""

    event_type: str
    reader: str
    writers: Mapping[int, str]


def decoders(settings: Settings, event_types: Sequence[str]) -> dict[str, Decoder]:
    """Reader = the catalog's latest schema; writers = every version registered."""
    client = SchemaRegistryClient({"url": settings.schema_registry_ccompat_url})
    catalog = load_catalog()
    found: dict[str, Decoder] = {}
    for event_type in set(event_types):
        entry = catalog.entry(event_type)
        subject = f"{entry.latest.topic}-value"
        writers: dict[int, str] = {}
        for number in client.get_versions(subject):
            registered = client.get_version(subject, number)
            if registered.schema_id is not None and registered.schema.schema_str:
                writers[int(registered.schema_id)] = registered.schema.schema_str
        found[event_type] = Decoder(event_type, registry_text(entry.latest), writers)
    return found


def event_struct(decoder: Decoder) -> Column:
    """The decoded event (a struct) of a Kafka `value` column, null when it cannot be decoded."""
    value = F.col("value")
    body = F.expr(f"substring(value, {_HEADER + 1})")
    schema_id = header_schema_id(value)
    decoded: Column = F.lit(None)
    for writer_id, writer in decoder.writers.items():
        options = {"mode": "PERMISSIVE"}
        if json.loads(writer) != json.loads(decoder.reader):
            options["avroSchema"] = decoder.reader  # evolve older writers to the latest reader
        decoded = F.when(schema_id == writer_id, from_avro(body, writer, options)).otherwise(
            decoded
        )
    return decoded


def header_schema_id(value: Column) -> Column:
    return F.conv(F.hex(F.substring(value, 2, 4)), 16, 10).cast("long")


def rejection_reason(value: Column, decoder: Decoder, event: Column) -> Column:
    """Why a message was not archived (null when it was)."""
    known = F.lit(False)
    for writer_id in decoder.writers:
        known = known | (header_schema_id(value) == writer_id)
    return (
        F.when(value.isNull(), F.lit("empty value"))
        .when(F.length(value) < _HEADER, F.lit("shorter than the 5-byte Confluent header"))
        .when(
            F.hex(F.substring(value, 1, 1)) != "00",
            F.concat(F.lit("no Confluent header: magic byte 0x"), F.hex(F.substring(value, 1, 1))),
        )
        .when(
            ~known,
            F.concat(F.lit("unknown schema id "), header_schema_id(value).cast("string")),
        )
        .when(event.isNull(), F.lit("Avro body does not match its writer schema"))
        .when(event["event_time"].isNull(), F.lit("event without event_time"))
    )


def decode(kafka_rows: DataFrame, decoder: Decoder) -> tuple[DataFrame, DataFrame]:
    """(events ready to archive, rejected raw messages with a reason) of one topic's rows."""
    with_event = kafka_rows.withColumn("_event", event_struct(decoder)).withColumn(
        "_reason", rejection_reason(F.col("value"), decoder, F.col("_event"))
    )
    good = with_event.where(F.col("_reason").isNull()).select(
        "_event.*",
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        header_schema_id(F.col("value")).alias("schema_id"),
    )
    good = good.withColumn(PARTITION, F.to_date("event_time"))
    bad = with_event.where(F.col("_reason").isNotNull()).select(
        "topic", "partition", "offset", "timestamp", "key", "value", "_reason"
    )
    return good, bad


def write_partitioned(
    spark: SparkSession, events: DataFrame, base_path: str, event_type: str, token: str
) -> None:
    """Write `events` into the archive under files named after `token`, replacing any files an
    earlier attempt with the same token wrote (so a retried batch is written once)."""
    base = base_path.rstrip("/")
    staging = f"{base}/_staging/{token}/{event_type}"
    fs = HadoopFS(spark, base)
    events.repartition(PARTITION).write.mode("overwrite").partitionBy(PARTITION).parquet(staging)
    for folder, is_dir in fs.entries(staging):
        name = folder.rstrip("/").rsplit("/", 1)[-1]
        if not is_dir or not name.startswith(f"{PARTITION}="):
            continue
        target = f"{base}/{event_type}/{name}"
        fs.mkdirs(target)
        for stale in fs.glob(f"{target}/part-{token}-*"):
            fs.delete(stale)
        files = sorted(p for p, d in fs.entries(folder) if not d and p.endswith(".parquet"))
        for number, source in enumerate(files):
            fs.rename(source, f"{target}/part-{token}-{number:05d}.parquet")
    fs.delete(f"{base}/_staging/{token}", recursive=True)


def dead_letter(
    settings: Settings,
    rows: Sequence[Any],
    failed_by: str,
    error_type: str = "ArchiveDecodeError",
) -> int:
    """Keep rejected messages verbatim in the real-time `dead_letters` table (idempotent)."""
    if not rows:
        return 0
    fields = [f["name"] for f in load_catalog().entry("dead_letters").latest.fields]
    now = datetime.now(UTC)
    records = [
        {
            "kafka_topic": row["topic"],
            "kafka_partition": row["partition"],
            "kafka_offset": row["offset"],
            "kafka_timestamp": _utc(row["timestamp"]),
            "key": row["key"],
            "value": row["value"],
            "reason": row["_reason"],
            "error_type": error_type,
            "failed_by": failed_by,
            "failed_at": now,
        }
        for row in rows
    ]
    missing = set(fields) - set(records[0])
    if missing:
        raise RuntimeError(f"dead_letters has fields the archive does not fill: {sorted(missing)}")
    statement = sql.SQL("INSERT INTO dead_letters ({}) VALUES ({}) ON CONFLICT DO NOTHING").format(
        sql.SQL(", ").join(sql.Identifier(f) for f in fields),
        sql.SQL(", ").join(sql.Placeholder(f) for f in fields),
    )
    with psycopg.connect(settings.postgres_dsn("realtime"), connect_timeout=10) as conn:
        with conn.cursor() as cursor:
            cursor.executemany(statement, records)
    return len(records)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ArchiveBatchWriter:
    """The foreachBatch function of the archive query (a class so tests can call it directly)."""

    def __init__(
        self, settings: Settings, topics: Mapping[str, str], base_path: str, query_name: str
    ) -> None:
        self.settings = settings
        self.topics = dict(topics)
        self.base_path = base_path
        self.query_name = query_name
        self.decoders = decoders(settings, list(self.topics.values()))

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        spark = batch.sparkSession
        batch = batch.persist()
        try:
            token = f"{self.query_name}-b{batch_id:010d}"
            for topic, event_type in self.topics.items():
                rows = batch.where(F.col("topic") == topic)
                good, bad = decode(rows, self.decoders[event_type])
                write_partitioned(spark, good, self.base_path, event_type, token)
                rejected = bad.collect()
                if rejected:
                    log.warning(
                        "%s: %d %s messages dead-lettered", self.query_name, len(rejected), topic
                    )
                    dead_letter(self.settings, rejected, self.query_name)
        finally:
            batch.unpersist()


def kafka_source(
    spark: SparkSession,
    settings: Settings,
    topics: Sequence[str],
    starting_offsets: str = "earliest",
) -> DataFrame:
    return (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.kafka_bootstrap_servers)
        .option("subscribe", ",".join(topics))
        .option("startingOffsets", starting_offsets)
        # Retention may delete events nobody archived yet: archive what is left, do not stop.
        .option("failOnDataLoss", "false")
        .option("maxOffsetsPerTrigger", 500_000)
        .load()
    )


def start_archive_query(
    spark: SparkSession,
    settings: Settings,
    topics: Mapping[str, str] | None = None,
    base_path: str | None = None,
    *,
    query_name: str = QUERY_NAME,
    available_now: bool = False,
    trigger_seconds: int = 60,
) -> StreamingQuery:
    """Start the archive query: `topics` maps topic -> event type (default: the three event
    topics); files go under `base_path` (default <state>/data/archive), its checkpoint under
    `<base_path>/_checkpoints/<query_name>`. `available_now` archives what is there and stops."""
    topics = dict(topics or event_topics())
    base_path = base_path or archive_root(settings)
    writer = ArchiveBatchWriter(settings, topics, base_path, query_name)
    stream = kafka_source(spark, settings, list(topics)).writeStream.foreachBatch(writer)
    stream = stream.queryName(query_name).option(
        "checkpointLocation", checkpoint_dir(base_path, query_name)
    )
    if available_now:
        stream = stream.trigger(availableNow=True)
    else:
        stream = stream.trigger(processingTime=f"{trigger_seconds} seconds")
    return stream.start()


def archive_available_now(
    spark: SparkSession,
    settings: Settings,
    topics: Mapping[str, str] | None = None,
    base_path: str | None = None,
    *,
    query_name: str = QUERY_NAME,
    attempts: int = 2,
) -> dict[str, int]:
    """One-shot: archive everything not archived yet, then stop. Returns input rows and batches.

    Runs the regular query until it has caught up. Spark 4.1.1's Kafka source fails *after*
    committing a batch it replayed from the checkpoint (a null in its progress metrics, see
    KafkaMicroBatchStream.metrics), so a restart after a crash needs a second attempt: the
    replayed batch is already written (idempotently) and committed by then.
    """
    for attempt in range(1, attempts + 1):
        query = start_archive_query(
            spark, settings, topics, base_path, query_name=query_name, trigger_seconds=1
        )
        try:
            query.processAllAvailable()
        except Exception as error:  # noqa: BLE001 - retried below, re-raised on the last attempt
            query.stop()
            if attempt == attempts:
                raise
            log.warning(
                "archive query %s failed (attempt %d), restarting: %s",
                query_name,
                attempt,
                str(error).splitlines()[0],
            )
            continue
        query.stop()
        progress = [p for p in query.recentProgress if int(p.numInputRows) > 0]
        return {"input_rows": sum(int(p.numInputRows) for p in progress), "batches": len(progress)}
    raise AssertionError("unreachable")
