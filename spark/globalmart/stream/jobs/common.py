"""Rules and expressions shared by the jobs reading the same event."""

from __future__ import annotations

from datetime import datetime, timezone

from pyspark.sql import Column
from pyspark.sql import functions as F

#: events dated before this are rejected: a clock reset on a producer, not a real purchase
EARLIEST_EVENT = datetime(2000, 1, 1, tzinfo=timezone.utc)
#: events dated further ahead of their Kafka timestamp are rejected: one far-future event would
#: push the watermark past every open window and make all later data "late"
MAX_CLOCK_SKEW_HOURS = 24


def event_time_checks() -> list[tuple[Column, str]]:
    # Compared with the record's Kafka timestamp (when it was produced), not the clock: the
    # same verdict on a replay, and no per-batch literal in the plan (see job.processing_time).
    sent = F.col("kafka_timestamp")
    return [
        (F.col("event_time") < F.lit(EARLIEST_EVENT), "event_time before 2000-01-01"),
        (
            F.col("event_time") > sent + F.make_dt_interval(hours=F.lit(MAX_CLOCK_SKEW_HOURS)),
            f"event_time more than {MAX_CLOCK_SKEW_HOURS}h after it was sent to Kafka",
        ),
        (F.length(F.col("country")) != 2, "country is not an ISO 3166-1 alpha-2 code"),
    ]


def transaction_checks() -> list[tuple[Column, str]]:
    items = F.col("items")
    return [
        *event_time_checks(),
        (F.size(items) == 0, "a purchase without order lines"),
        (F.exists(items, lambda i: i["quantity"] < 1), "an order line with quantity < 1"),
        (
            F.exists(items, lambda i: (i["unit_price"] < 0) | (i["line_amount"] < 0)),
            "a negative price",
        ),
        (F.col("total_amount") < 0, "a negative total_amount"),
    ]


def units(items: Column) -> Column:
    """Units in an order: the sum of its lines' quantities (as long)."""
    return F.aggregate(items, F.lit(0).cast("long"), lambda acc, i: acc + i["quantity"])


def distinct_count(value: Column) -> Column:
    """Exact distinct count (nulls ignored). The schemas allow HyperLogLog's ~5% error; small
    sets kept in state are exact and let the oracle compare every column."""
    return F.size(F.collect_set(value)).cast("long")
