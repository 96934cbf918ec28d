"""Inventory tracker: how fast products sell, where, and when to restock.

Tables:
- `product_sales_velocity`: per product per 5-minute window (units per minute);
- `inventory_by_country`: per product and country per 5-minute window;
- `high_demand_alerts`: a product selling 20+ units within a 10-minute window, once per window;
- `restock_alerts`: a product selling 1+ unit per minute (5+ units) in a country within a
  5-minute window, once per window;
- `inventory_metrics`: consumption per country per 1-minute window;
- `alerts`: one per high-demand and restock alert (restock `info`, high demand `warning`,
  `critical` at twice the threshold).

An alert fires in the first micro-batch where its window reaches the threshold and records the
units sold at that moment; it is append-only (later sales in the window update the velocity
tables, not the alert).

Watermark: 10 minutes, the longest of all jobs. Stock decisions are not real-time trading: a
purchase that reaches us late (a store's batch upload, a retried payment) still consumed
stock, so the windows wait one full high-demand window (10 minutes) for stragglers. The state
stays small: products x countries x a few open windows.

Each purchase counts once per product it contains: order lines of the same product are merged
first, so `transaction_count` is "purchases that included the product".
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from globalmart.stream.job import (
    JobContext,
    JobSpec,
    alert,
    explode_grains,
    grain_is,
    group,
    iso,
    keys,
    money,
    processing_time,
    row,
    window_bookkeeping,
    window_columns,
    with_window,
)
from globalmart.stream.jobs.common import distinct_count, transaction_checks

NAME = "inventory_tracker"
HIGH_DEMAND_UNITS = 20
RESTOCK_UNITS_PER_MINUTE = 1.0
VELOCITY_MINUTES = 5.0
PRODUCT, PRODUCT_COUNTRY, DEMAND, COUNTRY = "product", "product_country", "demand", "country"
_AMOUNT = T.DecimalType(16, 2)


def product_lines() -> Column:
    """The purchase's distinct products with their units and amount (lines merged)."""
    items = F.col("items")

    def merged(product: Column) -> Column:
        lines = F.filter(items, lambda i: i["product_id"] == product)
        return F.struct(
            product.alias("product_id"),
            F.aggregate(lines, F.lit(0).cast("long"), lambda acc, i: acc + i["quantity"]).alias(
                "quantity"
            ),
            F.aggregate(
                lines,
                F.lit(0).cast(_AMOUNT),
                lambda acc, i: (acc + i["line_amount"]).cast(_AMOUNT),
            ).alias("amount"),
        )

    return F.transform(F.array_distinct(items["product_id"]), merged)


def aggregate(events: DataFrame, ctx: JobContext) -> DataFrame:
    lines = events.select("*", F.posexplode(product_lines()).alias("line_number", "line")).select(
        "*", "line.*"
    )
    product = F.col("product_id")
    rows = explode_grains(
        lines,
        [
            (PRODUCT, 300, keys(product)),
            (PRODUCT_COUNTRY, 300, keys(product, F.col("country"))),
            (DEMAND, 600, keys(product)),
            # per country every product line counts its units; a purchase counts once (line 0)
            (COUNTRY, 60, keys(F.col("country"))),
        ],
    )
    grouped = group(
        with_window(rows, ctx),
        F.sum("quantity").alias("units_sold"),
        F.count_if(~grain_is(COUNTRY) | (F.col("line_number") == 0)).alias("transaction_count"),
        F.sum("amount").alias("revenue"),
        distinct_count(F.when(grain_is(COUNTRY), product)).alias("unique_products"),
    )
    units = F.col("units_sold")
    per_minute = units.cast("double") / F.lit(VELOCITY_MINUTES)
    revenue = money(F.col("revenue"), 16)
    restock = grain_is(PRODUCT_COUNTRY) & (per_minute >= F.lit(RESTOCK_UNITS_PER_MINUTE))
    high_demand = grain_is(DEMAND) & (units >= F.lit(HIGH_DEMAND_UNITS))
    now = processing_time()
    velocity = row(
        "product_sales_velocity",
        {
            **window_columns(),
            "product_id": F.col("k1"),
            "units_sold": units,
            "transaction_count": F.col("transaction_count"),
            "revenue": revenue,
            "units_per_minute": per_minute,
            **window_bookkeeping(),
        },
        grain_is(PRODUCT),
    )
    by_country = row(
        "inventory_by_country",
        {
            **window_columns(),
            "product_id": F.col("k1"),
            "country": F.col("k2"),
            "units_sold": units,
            "transaction_count": F.col("transaction_count"),
            "revenue": revenue,
            **window_bookkeeping(),
        },
        grain_is(PRODUCT_COUNTRY),
    )
    restock_row = row(
        "restock_alerts",
        {
            **window_columns(),
            "product_id": F.col("k1"),
            "country": F.col("k2"),
            "units_sold": units,
            "units_per_minute": per_minute,
            "threshold_per_minute": F.lit(RESTOCK_UNITS_PER_MINUTE),
            "alert_generated_at": now,
        },
        restock,
    )
    demand_row = row(
        "high_demand_alerts",
        {
            **window_columns(),
            "product_id": F.col("k1"),
            "units_sold": units,
            "transaction_count": F.col("transaction_count"),
            "threshold": F.lit(HIGH_DEMAND_UNITS),
            "alert_generated_at": now,
        },
        high_demand,
    )
    window_text = F.concat(iso(F.col("window.start")), F.lit(" to "), iso(F.col("window.end")))
    restock_alert = alert(
        dedup_key=F.concat(
            F.lit("restock:"),
            F.col("k1"),
            F.lit(":"),
            F.col("k2"),
            F.lit(":"),
            iso(F.col("window.start")),
        ),
        alert_type="restock",
        severity=F.lit("info"),
        title=F.concat(F.lit("Restock "), F.col("k1"), F.lit(" in "), F.col("k2")),
        message=F.concat(
            F.lit("Product "),
            F.col("k1"),
            F.lit(" sold "),
            units.cast("string"),
            F.lit(" units in "),
            F.col("k2"),
            F.lit(" from "),
            window_text,
            F.lit(f" (at least {RESTOCK_UNITS_PER_MINUTE:g} per minute)."),
        ),
        source_table="restock_alerts",
        entity_id=F.col("k1"),
        country=F.col("k2"),
        event_time=F.col("window.start"),
        details={"units_sold": units, "units_per_minute": per_minute},
        when=restock,
    )
    demand_alert = alert(
        dedup_key=F.concat(
            F.lit("high_demand:"), F.col("k1"), F.lit(":"), iso(F.col("window.start"))
        ),
        alert_type="high_demand",
        severity=F.when(units >= F.lit(2 * HIGH_DEMAND_UNITS), F.lit("critical")).otherwise(
            F.lit("warning")
        ),
        title=F.concat(F.lit("High demand for "), F.col("k1")),
        message=F.concat(
            F.lit("Product "),
            F.col("k1"),
            F.lit(" sold "),
            units.cast("string"),
            F.lit(" units from "),
            window_text,
            F.lit(f" (threshold {HIGH_DEMAND_UNITS})."),
        ),
        source_table="high_demand_alerts",
        entity_id=F.col("k1"),
        country=None,
        event_time=F.col("window.start"),
        details={"units_sold": units, "transaction_count": F.col("transaction_count")},
        when=high_demand,
    )
    metrics = row(
        "inventory_metrics",
        {
            **window_columns(),
            "country": F.col("k1"),
            "units_sold": units,
            "transaction_count": F.col("transaction_count"),
            "unique_products": F.col("unique_products"),
            "revenue": revenue,
            **window_bookkeeping(),
        },
        grain_is(COUNTRY),
    )
    # restock and high-demand alerts come from different grains: one alerts column each would
    # clash, so the two are merged (a row is one grain, at most one of them is set)
    alerts = F.coalesce(restock_alert, demand_alert).alias("alerts")
    return grouped.select(velocity, by_country, restock_row, demand_row, metrics, alerts)


JOB = JobSpec(
    name=NAME,
    source="transaction",
    watermark_minutes=10,
    tables=(
        "product_sales_velocity",
        "inventory_by_country",
        "high_demand_alerts",
        "restock_alerts",
        "inventory_metrics",
        "alerts",
    ),
    checks=transaction_checks,
    aggregate=aggregate,
    doc=__doc__ or "",
)
