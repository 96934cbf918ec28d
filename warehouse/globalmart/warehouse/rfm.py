"""RFM segmentation: recency, frequency and monetary scores (1-5) and a named segment per customer.

Inputs: purchases in the lookback window ending on the as-of day (default 365 days).
- recency_days = as-of day - day of the last purchase; frequency = purchases; monetary = spend.
- Scores are quintiles by rank: customers are ranked from worst to best on each measure
  (recency: most days first; frequency, monetary: smallest first), ties share the lowest rank,
  and score = 1 + floor(5 * (rank - 1) / customers). Ties always get the same score.
- Segments, first rule that matches wins (R, F, M = the scores):

  champions           R >= 4, F >= 4, M >= 4   bought recently, often, and spend the most
  cannot_lose         R <= 2, F >= 4, M >= 4   were among the best, not seen for a while
  loyal               R >= 3, F >= 4           buy often
  at_risk             R <= 2, F >= 3           used to buy regularly, slipping away
  new                 R >= 4, F == 1           first purchase recently
  potential_loyalist  R >= 3                   recent, still few purchases
  hibernating         R == 2                   long ago, few purchases
  lost                everything else (R == 1, F <= 2)
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from globalmart.warehouse import dims, pg
from globalmart.warehouse.etl import Target
from globalmart.warehouse.events import read_events
from globalmart.warehouse.frames import to_arrow
from globalmart.warehouse.layout import TRANSACTION

LOOKBACK_DAYS = 365
#: (segment, min R, max R, min F, max F, min M), in order; the last rule catches the rest
RULES: tuple[tuple[str, int, int, int, int, int], ...] = (
    ("champions", 4, 5, 4, 5, 4),
    ("cannot_lose", 1, 2, 4, 5, 4),
    ("loyal", 3, 5, 4, 5, 1),
    ("at_risk", 1, 2, 3, 5, 1),
    ("new", 4, 5, 1, 1, 1),
    ("potential_loyalist", 3, 5, 1, 5, 1),
    ("hibernating", 2, 2, 1, 5, 1),
    ("lost", 1, 5, 1, 5, 1),
)
SEGMENTS = tuple(rule[0] for rule in RULES)


def segment(r: int, f: int, m: int) -> str:
    for name, r_min, r_max, f_min, f_max, m_min in RULES:
        if r_min <= r <= r_max and f_min <= f <= f_max and m >= m_min:
            return name
    raise ValueError(f"scores out of range: {r}{f}{m}")


def score(rank: int, customers: int) -> int:
    return 1 + (5 * (rank - 1)) // customers


def segment_column(r: Column, f: Column, m: Column) -> Column:
    expr: Column | None = None
    for name, r_min, r_max, f_min, f_max, m_min in RULES:
        cond = r.between(r_min, r_max) & f.between(f_min, f_max) & (m >= m_min)
        expr = F.when(cond, name) if expr is None else expr.when(cond, name)
    assert expr is not None
    return expr


def _score(order: Column, customers: Column) -> Column:
    rank = F.rank().over(Window.orderBy(order))
    return (F.lit(1) + F.floor(F.lit(5) * (rank - 1) / customers)).cast("int")


def rfm_frame(transactions: DataFrame, as_of: date) -> DataFrame:
    per_user = transactions.groupBy("user_id").agg(
        F.datediff(F.lit(as_of), F.max(F.to_date("event_time"))).alias("recency_days"),
        F.countDistinct("transaction_id").alias("frequency"),
        F.sum("total_amount").alias("monetary"),
    )
    customers = F.count(F.lit(1)).over(Window.partitionBy())
    scored = per_user.select(
        "*",
        _score(F.col("recency_days").desc(), customers).alias("r_score"),
        _score(F.col("frequency").asc(), customers).alias("f_score"),
        _score(F.col("monetary").asc(), customers).alias("m_score"),
    )
    return scored.select(
        "*",
        F.concat_ws("", "r_score", "f_score", "m_score").alias("rfm_score"),
        segment_column(F.col("r_score"), F.col("f_score"), F.col("m_score")).alias("segment"),
    )


def run_rfm(
    spark: SparkSession, target: Target, as_of: date, lookback_days: int = LOOKBACK_DAYS
) -> dict[str, int]:
    first = as_of - timedelta(days=lookback_days - 1)
    tx = read_events(spark, target.archive_path, TRANSACTION, first, as_of)
    scored = rfm_frame(tx, as_of).cache()
    # Every scored customer needs a dimension row (an inferred member if no snapshot knows it).
    current = dims.current_keys(
        spark,
        target.settings,
        target.schema,
        dims.CUSTOMER,
        [r[0] for r in scored.select("user_id").collect()],
        tx.groupBy("user_id").agg(F.max_by("country", "event_time").alias("country")),
    )
    rows = scored.join(F.broadcast(current), "user_id", "left").select(
        F.lit(as_of).alias("as_of_date"), "*", F.lit(datetime.now(UTC)).alias("computed_at")
    )
    with pg.connect(target.settings, target.schema) as conn:
        written = pg.replace_slice(
            conn, "rfm_segments", "as_of_date = %s", [as_of], to_arrow(rows, "rfm_segments")
        )
    scored.unpersist()
    return {"rfm_segments": written}
