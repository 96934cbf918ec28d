"""Historical aggregations: weekly and monthly sales per country and category (table
sales_history), with growth against the previous period and a moving average of revenue.

For the day D, the job recomputes from the archive the week (ISO, from Monday) and the month that
contain D, up to and including D, and replaces exactly those two periods' rows; the run on a
period's last day leaves it complete. Per (period, country, category):
- order_count: purchases with at least one line of the category; units_sold, revenue: its lines;
  avg_order_value = revenue / order_count;
- revenue_growth_pct = (revenue - previous period's revenue) / previous period's revenue * 100,
  null when the previous period had none (the current period may still be partial);
- revenue_moving_avg = revenue of this and the previous 3 weeks / 4, or of this and the previous
  2 months / 3 (periods without sales count as 0, as in sales_trends' revenue_7d_avg).
The previous periods come from the archive too, so a re-run or a backfill in any order gives the
same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from globalmart.warehouse import pg
from globalmart.warehouse.etl import Target
from globalmart.warehouse.events import read_events, transaction_lines
from globalmart.warehouse.frames import to_arrow
from globalmart.warehouse.layout import PARTITION, TRANSACTION

KEYS = ("country", "category_id")


@dataclass(frozen=True)
class Period:
    name: str
    #: periods in the moving average (this one included)
    moving: int

    def start(self, day: date) -> date:
        if self.name == "week":
            return day - timedelta(days=day.weekday())
        return day.replace(day=1)

    def back(self, start: date, count: int) -> date:
        """The start of the period `count` periods before the one starting at `start`."""
        if self.name == "week":
            return start - timedelta(weeks=count)
        months = start.year * 12 + start.month - 1 - count
        return date(months // 12, months % 12 + 1, 1)

    def start_of(self, day: Column) -> Column:
        unit = "week" if self.name == "week" else "month"
        return F.to_date(F.date_trunc(unit, day))


WEEK, MONTH = Period("week", 4), Period("month", 3)
PERIODS = (WEEK, MONTH)


def first_day_needed(day: date) -> date:
    return min(p.back(p.start(day), p.moving - 1) for p in PERIODS)


def period_totals(lines: DataFrame, day: date) -> DataFrame:
    """Orders, units and revenue per period, country and category, for every period the rows of
    `day` need (the moving averages' span)."""
    lines = lines.where(F.col(PARTITION) <= F.lit(day))
    labelled = None
    for period in PERIODS:
        part = lines.select(
            F.lit(period.name).alias("period"),
            period.start_of(F.col(PARTITION)).alias("period_start"),
            *KEYS,
            "transaction_id",
            "quantity",
            "line_amount",
        ).where(F.col("period_start") >= F.lit(period.back(period.start(day), period.moving - 1)))
        labelled = part if labelled is None else labelled.unionByName(part)
    assert labelled is not None
    return labelled.groupBy("period", "period_start", *KEYS).agg(
        F.countDistinct("transaction_id").alias("order_count"),
        F.sum("quantity").cast("long").alias("units_sold"),
        F.sum("line_amount").alias("revenue"),
    )


def history_frame(totals: DataFrame, day: date) -> DataFrame:
    """The rows of the week and the month containing `day`, from period_totals."""
    frames = []
    for period in PERIODS:
        start = period.start(day)
        mine = totals.where(F.col("period") == period.name)
        current = mine.where(F.col("period_start") == F.lit(start))
        previous = mine.where(F.col("period_start") == F.lit(period.back(start, 1))).select(
            *KEYS, F.col("revenue").alias("previous_revenue")
        )
        moving = mine.groupBy(*KEYS).agg(
            (F.sum("revenue") / period.moving).alias("revenue_moving_avg")
        )
        frames.append(
            current.join(previous, list(KEYS), "left")
            .join(moving, list(KEYS), "left")
            .select(
                "period",
                "period_start",
                F.lit(day).alias("as_of_date"),
                *KEYS,
                "order_count",
                "units_sold",
                "revenue",
                (F.col("revenue") / F.col("order_count")).alias("avg_order_value"),
                F.when(
                    F.col("previous_revenue") > 0,
                    (F.col("revenue") - F.col("previous_revenue"))
                    / F.col("previous_revenue")
                    * 100,
                )
                .cast("double")
                .alias("revenue_growth_pct"),
                "revenue_moving_avg",
            )
        )
    return frames[0].unionByName(frames[1])


def run_sales_history(spark: SparkSession, target: Target, day: date) -> dict[str, int]:
    tx = read_events(spark, target.archive_path, TRANSACTION, first_day_needed(day), day)
    totals = period_totals(transaction_lines(tx), day).cache()  # read by 6 branches
    frame = history_frame(totals, day).withColumn("computed_at", F.lit(datetime.now(UTC)))
    data = to_arrow(frame, "sales_history")
    totals.unpersist()
    with pg.connect(target.settings, target.schema) as conn:
        written = pg.replace_slice(
            conn,
            "sales_history",
            "(period = 'week' AND period_start = %s) OR (period = 'month' AND period_start = %s)",
            [WEEK.start(day), MONTH.start(day)],
            data,
        )
    return {"sales_history": written}
