"""Sales aggregator: revenue and purchases per 1-minute window, overall and by country.

Tables: `sales_per_minute` (1-minute windows) and `sales_by_country` (1-minute windows, country).

Watermark: 2 minutes. Purchases are published as they complete, so they arrive seconds late at
most; 2 minutes still absorbs a producer's retries and a broker fail-over, and keeps the
revenue figures final (is_final) about 3 minutes after a minute ends — fresh enough for the
per-minute revenue dashboards. The state is tiny: one row per minute and country.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from globalmart.stream.job import (
    JobContext,
    JobSpec,
    explode_grains,
    grain_is,
    group,
    keys,
    money,
    row,
    window_bookkeeping,
    window_columns,
    with_window,
)
from globalmart.stream.jobs.common import distinct_count, transaction_checks, units

NAME = "sales_aggregator"
ALL, COUNTRY = "all", "country"


def aggregate(events: DataFrame, ctx: JobContext) -> DataFrame:
    rows = explode_grains(
        events.withColumn("units", units(F.col("items"))),
        [(ALL, 60, keys()), (COUNTRY, 60, keys(F.col("country")))],
    )
    totals = group(
        with_window(rows, ctx),
        F.count(F.lit(1)).alias("transaction_count"),
        F.sum("units").alias("units_sold"),
        F.sum("total_amount").alias("total_revenue"),
        F.avg("total_amount").alias("avg_order_value"),
        F.min("total_amount").alias("min_order_value"),
        F.max("total_amount").alias("max_order_value"),
        distinct_count(F.col("user_id")).alias("unique_customers"),
    )
    measures: dict[str, Column] = {
        **window_columns(),
        "transaction_count": F.col("transaction_count"),
        "units_sold": F.col("units_sold"),
        "total_revenue": money(F.col("total_revenue"), 16),
        "avg_order_value": money(F.col("avg_order_value"), 12),
        "min_order_value": money(F.col("min_order_value"), 12),
        "max_order_value": money(F.col("max_order_value"), 12),
        "unique_customers": F.col("unique_customers"),
        **window_bookkeeping(),
    }
    return totals.select(
        row("sales_per_minute", measures, grain_is(ALL)),
        row("sales_by_country", {**measures, "country": F.col("k1")}, grain_is(COUNTRY)),
    )


JOB = JobSpec(
    name=NAME,
    source="transaction",
    watermark_minutes=2,
    tables=("sales_per_minute", "sales_by_country"),
    checks=transaction_checks,
    aggregate=aggregate,
    doc=__doc__ or "",
)
