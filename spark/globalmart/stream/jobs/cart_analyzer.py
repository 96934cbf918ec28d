"""Cart analyzer: shopping sessions, abandonment and cart behaviour by country.

Tables:
- `cart_sessions`: one row per session active in a 5-minute window;
- `abandoned_carts`: one row per abandon event with items still in the cart, append-only;
- `cart_metrics`: cart activity per country per 5-minute window.

Watermark: 5 minutes. Cart events come from browsers and apps that buffer while offline, so
they arrive later than purchases; a session's window also only makes sense once its stragglers
are in. Five minutes (one window length) keeps the state to two windows of sessions while
accepting a phone that reconnects a few minutes later.
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
    processing_time,
    row,
    window_bookkeeping,
    window_columns,
    with_window,
)
from globalmart.stream.jobs.common import distinct_count, event_time_checks

NAME = "cart_analyzer"
SESSION, COUNTRY = "session", "country"
ITEM_ACTIONS = ("add", "remove", "update")


def checks() -> list[tuple[Column, str]]:
    action = F.col("action")
    item_action = action.isin(*ITEM_ACTIONS)
    return [
        *event_time_checks(),
        (
            item_action & (F.col("product_id").isNull() | F.col("quantity").isNull()),
            "add, remove or update without product_id or quantity",
        ),
        (
            action.isin("add", "remove") & (F.col("quantity") < 1),
            "add or remove with quantity < 1",
        ),
        (F.col("quantity") < 0, "a negative quantity"),
        (F.col("cart_total") < 0, "a negative cart_total"),
        (F.col("cart_item_count") < 0, "a negative cart_item_count"),
    ]


def per_event() -> list[tuple[str, Column]]:
    abandoned = (F.col("action") == "abandon") & (F.col("cart_item_count") > 0)
    cart = row(
        "abandoned_carts",
        {
            "session_id": F.col("session_id"),
            "abandoned_at": F.col("event_time"),
            "user_id": F.col("user_id"),
            "country": F.col("country"),
            "cart_value": F.col("cart_total"),
            "item_count": F.col("cart_item_count"),
            # set when the producer knows it (abandon events usually carry no product)
            "last_product_id": F.col("product_id"),
            "detected_at": processing_time(),
        },
    )
    return [("abandoned_carts", F.when(abandoned, F.array(cart)).otherwise(F.array()))]


def aggregate(events: DataFrame, ctx: JobContext) -> DataFrame:
    action = F.col("action")
    rows = explode_grains(
        events,
        [(SESSION, 300, keys(F.col("session_id"))), (COUNTRY, 300, keys(F.col("country")))],
    )
    latest = F.struct("event_time", "event_id")
    checkouts = F.count_if(action == "checkout")
    abandons = F.count_if(action == "abandon")
    grouped = group(
        with_window(rows, ctx),
        F.count(F.lit(1)).alias("event_count"),
        F.count_if(action == "add").alias("add_count"),
        F.count_if(action == "remove").alias("remove_count"),
        F.count_if(action == "update").alias("update_count"),
        checkouts.alias("checkout_count"),
        abandons.alias("abandon_count"),
        F.coalesce(F.sum(F.when(action == "add", F.col("quantity"))), F.lit(0))
        .cast("long")
        .alias("units_added"),
        F.max_by(F.col("cart_total"), latest).alias("last_cart_total"),
        F.bool_or(action == "checkout").alias("checked_out"),
        F.bool_or(action == "abandon").alias("abandoned"),
        F.min("event_time").alias("first_event_at"),
        F.max("event_time").alias("last_event_at"),
        F.max_by(F.col("user_id"), latest).alias("user_id"),
        F.max_by(F.col("country"), latest).alias("country"),
        distinct_count(F.when(grain_is(COUNTRY), F.col("session_id"))).alias("session_count"),
        F.avg("cart_total").alias("avg_cart_value"),
        F.coalesce(F.sum(F.when(action == "checkout", F.col("cart_total"))), F.lit(0)).alias(
            "checkout_value"
        ),
    )
    ended = F.col("checkout_count") + F.col("abandon_count")
    sessions = row(
        "cart_sessions",
        {
            **window_columns(),
            "session_id": F.col("k1"),
            "user_id": F.col("user_id"),
            "country": F.col("country"),
            "event_count": F.col("event_count"),
            "add_count": F.col("add_count"),
            "remove_count": F.col("remove_count"),
            "update_count": F.col("update_count"),
            "units_added": F.col("units_added"),
            "cart_value": F.col("last_cart_total"),
            "checked_out": F.col("checked_out"),
            "abandoned": F.col("abandoned"),
            "first_event_at": F.col("first_event_at"),
            "last_event_at": F.col("last_event_at"),
            **window_bookkeeping(),
        },
        grain_is(SESSION),
    )
    metrics = row(
        "cart_metrics",
        {
            **window_columns(),
            "country": F.col("k1"),
            "session_count": F.col("session_count"),
            "add_count": F.col("add_count"),
            "remove_count": F.col("remove_count"),
            "update_count": F.col("update_count"),
            "checkout_count": F.col("checkout_count"),
            "abandon_count": F.col("abandon_count"),
            "abandonment_rate": F.when(ended > 0, F.col("abandon_count") / ended).otherwise(
                F.lit(0.0)
            ),
            "avg_cart_value": money(F.col("avg_cart_value"), 12),
            "checkout_value": money(F.col("checkout_value"), 16),
            **window_bookkeeping(),
        },
        grain_is(COUNTRY),
    )
    return grouped.select(sessions, metrics)


JOB = JobSpec(
    name=NAME,
    source="cart_event",
    watermark_minutes=5,
    tables=("cart_sessions", "abandoned_carts", "cart_metrics"),
    checks=checks,
    aggregate=aggregate,
    per_event=per_event,
    doc=__doc__ or "",
)
