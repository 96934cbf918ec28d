"""A day of events at any volume, generated inside Spark (for benchmarks): deterministic in the
ids, shaped like the generator's events, written to the archive layout."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from globalmart.warehouse.archive import write_partitioned
from globalmart.warehouse.frames import archive_schema
from globalmart.warehouse.layout import CART_EVENT, PARTITION, PRODUCT_VIEW, TRANSACTION

COUNTRY_CODES = ["US", "GB", "DE", "FR", "JP"]


def _pick(values: list[str], index: Column) -> Column:
    return F.element_at(F.array(*[F.lit(v) for v in values]), (index + 1).cast("int"))


def _h(col: Column, salt: int, modulo: int) -> Column:
    return F.pmod(F.xxhash64(col, F.lit(salt)), F.lit(modulo))


def _common(ids: Column, count: int, day: date, users: int, salt: int) -> list[Column]:
    start = int(datetime.combine(day, datetime.min.time(), UTC).timestamp())
    user = _h(ids, salt, users)
    return [
        F.concat(F.lit(f"e{salt}-"), ids.cast("string")).alias("event_id"),
        F.timestamp_seconds(F.lit(start) + F.floor(ids * 86_399 / count)).alias("event_time"),
        F.concat(F.lit("U-"), F.lpad(user.cast("string"), 8, "0")).alias("user_id"),
        F.concat(F.lit("S-"), F.lpad(_h(ids, salt + 1, count).cast("string"), 9, "0")).alias(
            "session_id"
        ),
        _pick(COUNTRY_CODES, F.pmod(user, F.lit(5))).alias("country"),
    ]


def _product(seed_col: Column, salt: int, products: int) -> tuple[Column, Column, Column]:
    number = _h(seed_col, salt, products)
    product_id = F.concat(F.lit("P-"), F.lpad(number.cast("string"), 6, "0"))
    category_id = F.concat(F.lit("CAT-"), F.lpad(F.pmod(number, F.lit(100)).cast("string"), 3, "0"))
    price = ((F.pmod(number * 37, F.lit(49_800)) + 199) / 100).cast("decimal(12,2)")
    return product_id, category_id, price


def _conform(spark: SparkSession, frame: DataFrame, event_type: str) -> DataFrame:
    schema = archive_schema(spark, event_type)
    for field in schema.fields:
        if field.name not in frame.columns:
            frame = frame.withColumn(field.name, F.lit(None).cast(field.dataType))
    # Nested types already match (up to nullability, which a cast cannot add): keep them.
    return frame.select(
        *[
            (
                F.col(f.name)
                if f.dataType.typeName() in ("array", "map")
                else F.col(f.name).cast(f.dataType).alias(f.name)
            )
            for f in schema.fields
        ]
    )


def generate_day(
    spark: SparkSession,
    base_path: str,
    day: date,
    transactions: int = 100_000,
    users: int = 10_000,
    products: int = 1_000,
) -> dict[str, int]:
    """Write one day: `transactions` purchases (1-3 lines), 6x views, 3x cart events."""
    counts = {
        TRANSACTION: transactions,
        PRODUCT_VIEW: 6 * transactions,
        CART_EVENT: 3 * transactions,
    }
    ids = F.col("id")

    tx = spark.range(transactions).select(
        "id",
        *_common(ids, transactions, day, users, 1),
        F.concat(F.lit("T-"), ids.cast("string")).alias("transaction_id"),
        _pick(["credit_card", "debit_card", "paypal", "apple_pay"], _h(ids, 3, 4)).alias(
            "payment_method"
        ),
        F.sequence(F.lit(1), (_h(ids, 4, 3) + 1).cast("int")).alias("_lines"),
    )

    def line(j: Column) -> Column:
        seed_col = F.xxhash64(F.col("id"), j)
        product_id, category_id, price = _product(seed_col, 5, products)
        quantity = (F.pmod(seed_col, F.lit(3)) + 1).cast("int")
        return F.struct(
            product_id.alias("product_id"),
            category_id.alias("category_id"),
            quantity.alias("quantity"),
            price.alias("unit_price"),
            (price * quantity).cast("decimal(12,2)").alias("line_amount"),
        )

    tx = tx.withColumn("items", F.transform("_lines", line)).withColumn(
        "total_amount",
        F.aggregate(
            "items",
            F.lit(0).cast("decimal(12,2)"),
            lambda acc, item: (acc + item["line_amount"]).cast("decimal(12,2)"),
        ),
    )

    views = spark.range(counts[PRODUCT_VIEW]).select(
        "id",
        *_common(ids, counts[PRODUCT_VIEW], day, users, 7),
        _pick(["view", "view", "view", "search", "filter", "compare"], _h(ids, 8, 6)).alias(
            "action"
        ),
    )
    pid, cid, _ = _product(F.col("id"), 9, products)
    views = views.select(
        "*",
        F.when(F.col("action").isin("view", "compare"), pid).alias("product_id"),
        F.when(F.col("action") != "search", cid).alias("category_id"),
        F.when(F.col("action") == "search", F.lit("shoes")).alias("search_query"),
        F.create_map().cast("map<string,string>").alias("filters"),
        F.array().cast("array<string>").alias("compared_product_ids"),
        F.when(F.col("action") == "view", (_h(ids, 10, 300) + 5).cast("int")).alias(
            "duration_seconds"
        ),
    )

    carts = spark.range(counts[CART_EVENT]).select(
        "id",
        *_common(ids, counts[CART_EVENT], day, users, 11),
        _pick(
            ["add", "add", "add", "remove", "update", "checkout", "abandon"], _h(ids, 12, 7)
        ).alias("action"),
    )
    pid, cid, price = _product(F.col("id"), 13, products)
    has_product = ~F.col("action").isin("checkout", "abandon")
    carts = carts.select(
        "*",
        F.when(has_product, pid).alias("product_id"),
        F.when(has_product, cid).alias("category_id"),
        F.when(has_product, (_h(ids, 14, 3) + 1).cast("int")).alias("quantity"),
        F.when(has_product, price).alias("unit_price"),
        (price * 2).cast("decimal(12,2)").alias("cart_total"),
        (_h(ids, 15, 6) + 1).cast("int").alias("cart_item_count"),
    )
    for event_type, frame in ((TRANSACTION, tx), (PRODUCT_VIEW, views), (CART_EVENT, carts)):
        frame = (
            frame.withColumn("kafka_partition", F.lit(0))
            .withColumn("kafka_offset", F.col("id"))
            .withColumn("schema_id", F.lit(0))
            .withColumn(PARTITION, F.to_date("event_time"))
        )
        write_partitioned(
            spark, _conform(spark, frame, event_type), base_path, event_type, "synthetic"
        )
    return counts
