"""Product performance over a lookback period (default 30 days) ending on the as-of day.

Funnel per product: product-page views (action `view`) -> cart adds -> purchases.
- order_count: purchases that included the product; units_sold, revenue: from the order lines.
- view_to_purchase_rate = order_count / view_count, view_to_cart_rate = cart_add_count /
  view_count, cart_to_purchase_rate = order_count / cart_add_count (0 when the divisor is 0).
- abandonment: of the shopping sessions that added the product (carted_session_count), those
  whose cart was abandoned later in the session (abandoned_session_count); abandonment_rate is
  their ratio.
- revenue_rank over all products, category_revenue_rank within the product's category
  (SQL RANK: ties share a rank). Products with any activity in the period get a row.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from globalmart.warehouse import dims, pg
from globalmart.warehouse.etl import DayEvents, Target
from globalmart.warehouse.events import read_events, transaction_lines
from globalmart.warehouse.frames import to_arrow
from globalmart.warehouse.layout import CART_EVENT, PRODUCT_VIEW, TRANSACTION

PERIOD_DAYS = 30


def _rate(numerator: str, denominator: str) -> Column:
    return F.when(F.col(denominator) > 0, F.col(numerator) / F.col(denominator)).otherwise(
        F.lit(0.0)
    )


def performance_frame(ev: DayEvents) -> DataFrame:
    sold = ev.lines.groupBy("product_id").agg(
        F.sum("quantity").cast("long").alias("units_sold"),
        F.countDistinct("transaction_id").alias("order_count"),
        F.sum("line_amount").alias("revenue"),
        F.max_by("category_id", "event_time").alias("sold_category_id"),
    )
    viewed = (
        ev.views.where((F.col("action") == "view") & F.col("product_id").isNotNull())
        .groupBy("product_id")
        .agg(
            F.count(F.lit(1)).alias("view_count"),
            F.max_by("category_id", "event_time").alias("viewed_category_id"),
        )
    )
    carts = ev.carts.where(F.col("product_id").isNotNull())
    carted = carts.groupBy("product_id").agg(
        F.sum(F.when(F.col("action") == "add", 1).otherwise(0))
        .cast("long")
        .alias("cart_add_count"),
        F.sum(F.when(F.col("action") == "remove", 1).otherwise(0))
        .cast("long")
        .alias("cart_remove_count"),
        F.max_by("category_id", "event_time").alias("carted_category_id"),
    )
    # Session outcome: the first abandon of each session, compared with each add's time.
    abandons = (
        ev.carts.where(F.col("action") == "abandon")
        .groupBy("session_id")
        .agg(F.min("event_time").alias("abandoned_at"))
    )
    adds = (
        carts.where(F.col("action") == "add")
        .groupBy("product_id", "session_id")
        .agg(F.min("event_time").alias("added_at"))
    )
    sessions = (
        adds.join(abandons, "session_id", "left")
        .groupBy("product_id")
        .agg(
            F.count(F.lit(1)).alias("carted_session_count"),
            F.sum(F.when(F.col("abandoned_at") > F.col("added_at"), 1).otherwise(0))
            .cast("long")
            .alias("abandoned_session_count"),
        )
    )
    frame = (
        sold.join(viewed, "product_id", "full")
        .join(carted, "product_id", "full")
        .join(sessions, "product_id", "full")
    )
    counts = [
        "units_sold",
        "order_count",
        "view_count",
        "cart_add_count",
        "cart_remove_count",
        "carted_session_count",
        "abandoned_session_count",
    ]
    frame = (
        frame.fillna(0, counts)
        .withColumn("revenue", F.coalesce("revenue", F.lit(0).cast("decimal(16,2)")))
        .withColumn(
            "category_id",
            F.coalesce(
                "sold_category_id", "carted_category_id", "viewed_category_id", F.lit(dims.UNKNOWN)
            ),
        )
    )
    return frame.select(
        "*",
        _rate("order_count", "view_count").alias("view_to_purchase_rate"),
        _rate("cart_add_count", "view_count").alias("view_to_cart_rate"),
        _rate("order_count", "cart_add_count").alias("cart_to_purchase_rate"),
        _rate("abandoned_session_count", "carted_session_count").alias("abandonment_rate"),
    )


def ranked(frame: DataFrame) -> DataFrame:
    return frame.select(
        "*",
        F.rank().over(Window.orderBy(F.col("revenue").desc())).alias("revenue_rank"),
        F.rank()
        .over(Window.partitionBy("category_id").orderBy(F.col("revenue").desc()))
        .alias("category_revenue_rank"),
    )


def period_events(spark: SparkSession, target: Target, first: date, last: date) -> DayEvents:
    """The period's events; only cart events are cached (the funnel reads them three times)."""
    tx = read_events(spark, target.archive_path, TRANSACTION, first, last)
    return DayEvents(
        tx,
        transaction_lines(tx),
        read_events(spark, target.archive_path, CART_EVENT, first, last).cache(),
        read_events(spark, target.archive_path, PRODUCT_VIEW, first, last),
    )


def run_product_performance(
    spark: SparkSession, target: Target, as_of: date, period_days: int = PERIOD_DAYS
) -> dict[str, int]:
    ev = period_events(spark, target, as_of - timedelta(days=period_days - 1), as_of)
    perf = performance_frame(ev).cache()
    ids = [r[0] for r in perf.select("product_id").collect()]
    # The product's current version: its category there wins over what the events said.
    current = dims.current_keys(
        spark,
        target.settings,
        target.schema,
        dims.PRODUCT,
        ids,
        perf.select("product_id", "category_id", F.lit(0).cast("decimal(12,2)").alias("price")),
        ("category_id",),
    ).withColumnRenamed("category_id", "dim_category_id")
    perf = perf.join(F.broadcast(current), "product_id", "left").withColumn(
        "category_id",
        F.when(
            F.col("dim_category_id").isNull() | (F.col("dim_category_id") == dims.UNKNOWN),
            F.col("category_id"),
        ).otherwise(F.col("dim_category_id")),
    )
    rows = ranked(perf).select(
        F.lit(as_of).alias("as_of_date"),
        F.lit(period_days).alias("period_days"),
        "*",
        F.lit(datetime.now(UTC)).alias("computed_at"),
    )
    data = to_arrow(rows, "product_performance")
    with pg.connect(target.settings, target.schema) as conn:
        written = pg.replace_slice(conn, "product_performance", "as_of_date = %s", [as_of], data)
    ev.carts.unpersist()
    perf.unpersist()
    return {"product_performance": written}
