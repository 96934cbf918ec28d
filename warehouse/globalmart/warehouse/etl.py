"""The nightly ETL of one day: archive (+ catalog snapshots) -> dimensions and facts.

Facts are at the grain of the order line (fact_sales), the cart event (fact_cart_events) and the
browsing event (fact_product_views), each row pointing at the dimension versions in effect at the
event's time; fact_daily_product_snapshot sums the day per product version and country. Every fact
table's slice of the day (date_key) is replaced in one transaction: re-running a day gives the
same rows (keys are deterministic; only loaded_at differs).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from globalmart.core.settings import Settings
from globalmart.warehouse import dims, pg
from globalmart.warehouse.events import read_events, transaction_lines
from globalmart.warehouse.frames import conform, date_key, time_key, to_arrow
from globalmart.warehouse.layout import CART_EVENT, PRODUCT_VIEW, TRANSACTION
from globalmart.warehouse.reference import load_reference
from globalmart.warehouse.reference_sync import snapshot_reference


@dataclass(frozen=True)
class Target:
    """Where a batch run reads and writes."""

    settings: Settings
    archive_path: str
    reference_path: str
    #: PostgreSQL namespace of the warehouse tables (public, or a test's own)
    schema: str = pg.PUBLIC
    #: prefix of the published reference topics to copy before each ETL (None: do not read
    #: Kafka, use the snapshots already under reference_path)
    reference_topic_prefix: str | None = ""


@dataclass
class DayEvents:
    transactions: DataFrame
    lines: DataFrame
    carts: DataFrame
    views: DataFrame


def day_events(spark: SparkSession, target: Target, first: date, last: date) -> DayEvents:
    tx = read_events(spark, target.archive_path, TRANSACTION, first, last).cache()
    return DayEvents(
        tx,
        transaction_lines(tx).cache(),
        read_events(spark, target.archive_path, CART_EVENT, first, last).cache(),
        read_events(spark, target.archive_path, PRODUCT_VIEW, first, last).cache(),
    )


def _latest(frame: DataFrame, key: str, *cols: str) -> DataFrame:
    """Per key, each column's value at the latest event that has one (deterministic)."""
    return frame.groupBy(key).agg(
        *[
            F.max_by(F.col(c), F.when(F.col(c).isNotNull(), F.col("event_time"))).alias(c)
            for c in cols
        ]
    )


def inferred_members(ev: DayEvents) -> tuple[DataFrame, DataFrame, DataFrame]:
    """(customers, products, categories) the events mention, with what the events tell."""
    who = (
        ev.transactions.select("user_id", "country", "event_time")
        .unionByName(ev.carts.select("user_id", "country", "event_time"))
        .unionByName(ev.views.select("user_id", "country", "event_time"))
    )
    customers = _latest(who, "user_id", "country")
    items = (
        ev.lines.select("product_id", "category_id", "unit_price", "event_time")
        .unionByName(ev.carts.select("product_id", "category_id", "unit_price", "event_time"))
        .unionByName(
            ev.views.select(
                "product_id",
                "category_id",
                F.lit(None).cast("decimal(12,2)").alias("unit_price"),
                "event_time",
            )
        )
    )
    products = _latest(
        items.where(F.col("product_id").isNotNull()), "product_id", "category_id", "unit_price"
    )
    products = products.select(
        "product_id",
        F.coalesce("category_id", F.lit(dims.UNKNOWN)).alias("category_id"),
        F.coalesce("unit_price", F.lit(0).cast("decimal(12,2)")).alias("price"),
    )
    categories = items.where(F.col("category_id").isNotNull()).select("category_id").distinct()
    return customers, products, categories


@dataclass
class Dimensions:
    customers: DataFrame
    products: DataFrame
    categories: DataFrame


def load_dimensions(
    spark: SparkSession, target: Target, day: date, ev: DayEvents, rows: dict[str, int]
) -> Dimensions:
    settings, schema = target.settings, target.schema
    rows["dim_date+dim_time"] = dims.load_calendar(settings, schema, day)
    seen = [
        r[0]
        for r in ev.transactions.select("country")
        .unionByName(ev.carts.select("country"))
        .unionByName(ev.views.select("country"))
        .distinct()
        .collect()
    ]
    countries = load_reference(spark, target.reference_path, "country")
    rows["dim_geography"] = dims.load_geography(spark, settings, schema, countries, seen)

    customers, products, categories = inferred_members(ev)
    users = load_reference(spark, target.reference_path, "user")
    prods = load_reference(spark, target.reference_path, "product")
    cats = load_reference(spark, target.reference_path, "category")
    cat_versions, rows["dim_category"] = dims.apply_scd2(
        spark,
        settings,
        schema,
        dims.CATEGORY,
        dims.category_records(cats) if cats is not None else None,
        categories,
    )
    prod_versions, rows["dim_product"] = dims.apply_scd2(
        spark,
        settings,
        schema,
        dims.PRODUCT,
        dims.product_records(prods) if prods is not None else None,
        products,
    )
    cust_versions, rows["dim_customer"] = dims.apply_scd2(
        spark,
        settings,
        schema,
        dims.CUSTOMER,
        dims.customer_records(users) if users is not None else None,
        customers,
    )
    return Dimensions(cust_versions, prod_versions, cat_versions)


def fact_frames(ev: DayEvents, dm: Dimensions, loaded_at: datetime) -> dict[str, DataFrame]:
    stamp = F.lit(loaded_at)
    sales = dims.as_of(ev.lines, dm.customers, dims.CUSTOMER)
    sales = dims.as_of(sales, dm.products, dims.PRODUCT)
    sales = dims.as_of(sales, dm.categories, dims.CATEGORY).select(
        "*",
        date_key(F.col("event_time")).alias("date_key"),
        time_key(F.col("event_time")).alias("time_key"),
        stamp.alias("loaded_at"),
    )
    carts = dims.as_of(
        dims.as_of(ev.carts, dm.customers, dims.CUSTOMER), dm.products, dims.PRODUCT
    ).select(
        "*",
        date_key(F.col("event_time")).alias("date_key"),
        time_key(F.col("event_time")).alias("time_key"),
        stamp.alias("loaded_at"),
    )
    views = dims.as_of(ev.views, dm.customers, dims.CUSTOMER)
    views = dims.as_of(
        dims.as_of(views, dm.products, dims.PRODUCT), dm.categories, dims.CATEGORY
    ).select(
        "*",
        date_key(F.col("event_time")).alias("date_key"),
        time_key(F.col("event_time")).alias("time_key"),
        stamp.alias("loaded_at"),
    )
    return {"fact_sales": sales, "fact_cart_events": carts, "fact_product_views": views}


def daily_snapshot(facts: dict[str, DataFrame], loaded_at: datetime) -> DataFrame:
    """Per product version and country: the day's units, purchases, revenue, views, cart adds."""
    keys = ["date_key", "product_key", "country"]
    sold = (
        facts["fact_sales"]
        .groupBy(*keys)
        .agg(
            F.sum("quantity").cast("long").alias("units_sold"),
            F.countDistinct("transaction_id").alias("transaction_count"),
            F.sum("line_amount").alias("revenue"),
        )
    )
    viewed = (
        facts["fact_product_views"]
        .where((F.col("action") == "view") & F.col("product_key").isNotNull())
        .groupBy(*keys)
        .agg(F.count(F.lit(1)).alias("view_count"))
    )
    added = (
        facts["fact_cart_events"]
        .where((F.col("action") == "add") & F.col("product_key").isNotNull())
        .groupBy(*keys)
        .agg(F.count(F.lit(1)).alias("cart_add_count"))
    )
    snap = (
        sold.join(viewed, keys, "full")
        .join(added, keys, "full")
        .fillna(0, ["units_sold", "transaction_count", "view_count", "cart_add_count"])
    )
    return snap.select(
        *keys,
        "units_sold",
        "transaction_count",
        F.coalesce("revenue", F.lit(0)).alias("revenue"),
        "view_count",
        "cart_add_count",
        F.when(F.col("view_count") > 0, F.col("transaction_count") / F.col("view_count"))
        .otherwise(F.lit(0.0))
        .alias("conversion_rate"),
        F.lit(loaded_at).alias("loaded_at"),
    )


FACT_TABLES = (
    "fact_sales",
    "fact_cart_events",
    "fact_product_views",
    "fact_daily_product_snapshot",
)


def run_etl(spark: SparkSession, target: Target, day: date) -> dict[str, int]:
    """Load one day; returns rows written per table (and reference records copied)."""
    rows: dict[str, int] = {}
    if target.reference_topic_prefix is not None:
        copied = snapshot_reference(
            spark, target.settings, target.reference_path, target.reference_topic_prefix
        )
        rows["reference_snapshot"] = sum(copied.values())
    ev = day_events(spark, target, day, day)
    dm = load_dimensions(spark, target, day, ev, rows)
    loaded_at = datetime.now(UTC)
    facts = fact_frames(ev, dm, loaded_at)
    key = day.year * 10_000 + day.month * 100 + day.day
    with pg.connect(target.settings, target.schema) as conn:
        # Each fact frame is computed once: written from the cache, then summed for the snapshot.
        for table, frame in facts.items():
            facts[table] = frame = conform(frame, table).cache()
            rows[table] = pg.replace_slice(conn, table, "date_key = %s", [key], frame.toArrow())
        snapshot = daily_snapshot(facts, loaded_at)
        rows["fact_daily_product_snapshot"] = pg.replace_slice(
            conn,
            "fact_daily_product_snapshot",
            "date_key = %s",
            [key],
            to_arrow(snapshot, "fact_daily_product_snapshot"),
        )
    for frame in (
        *facts.values(),
        ev.transactions,
        ev.lines,
        ev.carts,
        ev.views,
        dm.customers,
        dm.products,
        dm.categories,
    ):
        frame.unpersist()
    return rows
