"""Daily sales trends per country and category, with a 7-day moving average and day-over-day
growth (weekly and monthly roll-ups with growth and moving averages are the BI views
bi_sales_weekly / bi_sales_monthly over this table; see views.py).

For the day D and each (country, category) that sold on D:
- order_count: purchases with at least one line of the category; units_sold, revenue: its lines;
- avg_order_value = revenue / order_count;
- revenue_7d_avg = the category's revenue in the country over D-6..D divided by 7 (days without
  sales count as 0);
- revenue_change_pct = (revenue(D) - revenue(D-1)) / revenue(D-1) * 100, null when D-1 had none.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from globalmart.warehouse import pg
from globalmart.warehouse.etl import Target
from globalmart.warehouse.events import read_events, transaction_lines
from globalmart.warehouse.frames import to_arrow
from globalmart.warehouse.layout import PARTITION, TRANSACTION

WINDOW_DAYS = 7


def trends_frame(lines: DataFrame, day: date) -> DataFrame:
    keys = ["country", "category_id"]
    daily = lines.groupBy(F.col(PARTITION).alias("sales_date"), *keys).agg(
        F.countDistinct("transaction_id").alias("order_count"),
        F.sum("quantity").cast("long").alias("units_sold"),
        F.sum("line_amount").alias("revenue"),
    )
    window = daily.where(F.col("sales_date") >= F.lit(day - timedelta(days=WINDOW_DAYS - 1)))
    avg7 = window.groupBy(*keys).agg((F.sum("revenue") / WINDOW_DAYS).alias("revenue_7d_avg"))
    previous = daily.where(F.col("sales_date") == F.lit(day - timedelta(days=1))).select(
        *keys, F.col("revenue").alias("previous_revenue")
    )
    today = daily.where(F.col("sales_date") == F.lit(day))
    joined = today.join(avg7, keys, "left").join(previous, keys, "left")
    return joined.select(
        "sales_date",
        *keys,
        "order_count",
        "units_sold",
        "revenue",
        (F.col("revenue") / F.col("order_count")).alias("avg_order_value"),
        "revenue_7d_avg",
        F.when(
            F.col("previous_revenue") > 0,
            (F.col("revenue") - F.col("previous_revenue")) / F.col("previous_revenue") * 100,
        )
        .cast("double")
        .alias("revenue_change_pct"),
    )


def run_sales_trends(spark: SparkSession, target: Target, day: date) -> dict[str, int]:
    tx = read_events(
        spark, target.archive_path, TRANSACTION, day - timedelta(days=WINDOW_DAYS - 1), day
    )
    rows = trends_frame(transaction_lines(tx), day).withColumn(
        "computed_at", F.lit(datetime.now(UTC))
    )
    with pg.connect(target.settings, target.schema) as conn:
        written = pg.replace_slice(
            conn, "sales_trends", "sales_date = %s", [day], to_arrow(rows, "sales_trends")
        )
    return {"sales_trends": written}
