"""Read the raw archive for a range of event dates, deduplicated on event_id."""

from __future__ import annotations

from datetime import date
from functools import reduce

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from globalmart.warehouse.frames import archive_schema
from globalmart.warehouse.hadoopfs import HadoopFS
from globalmart.warehouse.layout import PARTITION, days, partition_dir


def read_events(
    spark: SparkSession, base_path: str, event_type: str, first: date, last: date
) -> DataFrame:
    """Events of `event_type` with event dates first..last (empty frame when none)."""
    fs = HadoopFS(spark, base_path)
    paths = [
        partition_dir(base_path, event_type, day)
        for day in days(first, last)
        if fs.exists(partition_dir(base_path, event_type, day))
    ]
    schema = archive_schema(spark, event_type)
    if not paths:
        return spark.createDataFrame([], schema)
    # The reader schema up front: no footer-merging job, and files written by older schema
    # versions read their missing (newer, defaulted) fields as nulls.
    frame = (
        spark.read.schema(schema)
        .option("basePath", f"{base_path.rstrip('/')}/{event_type}")
        .parquet(*paths)
    )
    # A producer retry can archive an event twice: the same event_id, the same content.
    return valid_only(frame.select(*schema.fieldNames()), event_type).dropDuplicates(["event_id"])


def event_rules(event_type: str) -> list[tuple[Column, str]]:
    """The rules the stream jobs reading `event_type` apply (condition = rejected, reason)."""
    from globalmart.stream.registry_jobs import JOBS

    rules: dict[str, Column] = {}
    for job in JOBS:
        if job.source == event_type:
            for condition, reason in job.checks():
                rules.setdefault(reason, condition)
    return [(condition, reason) for reason, condition in rules.items()]


def valid_only(frame: DataFrame, event_type: str) -> DataFrame:
    """Drop the events the stream jobs reject, so batch and real-time count the same events (the
    archive keeps them, raw; the rejects are in dead_letters with their reason). The archive has
    no Kafka timestamp, so the stream's clock-skew rule (event_time far after sending) passes."""
    rules = event_rules(event_type)
    if not rules:
        return frame
    staged = frame.withColumn("kafka_timestamp", F.lit(None).cast("timestamp"))
    rejected = reduce(
        lambda a, b: a | b, [F.coalesce(condition, F.lit(False)) for condition, _ in rules]
    )
    return staged.where(~rejected).drop("kafka_timestamp")


def transaction_lines(transactions: DataFrame) -> DataFrame:
    """One row per order line: the transaction's columns plus line_number (from 1) and the item."""
    return transactions.select("*", F.posexplode("items").alias("line_index", "item")).select(
        "event_id",
        "event_time",
        "transaction_id",
        "user_id",
        "session_id",
        "country",
        "payment_method",
        "total_amount",
        PARTITION,
        (F.col("line_index") + 1).cast("int").alias("line_number"),
        F.col("item.product_id").alias("product_id"),
        F.col("item.category_id").alias("category_id"),
        F.col("item.quantity").alias("quantity"),
        F.col("item.unit_price").alias("unit_price"),
        F.col("item.line_amount").alias("line_amount"),
    )
