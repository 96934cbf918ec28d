"""Product view analyzer: trending products, category engagement, searches and browsing sessions.

Tables:
- `trending_products`: per product per 10-minute window (views, compares, engagement score);
- `category_performance`: per category and country per 5-minute window;
- `search_behavior`: per search query (trimmed, lower-cased) per 5-minute window;
- `browsing_sessions`: per session per 5-minute window.

Watermark: 3 minutes. Views are the busiest stream (60% of events), so their state is the one
to keep small: 3 minutes holds at most the open 10-minute window plus a few minutes of sessions
and categories, and still accepts the usual few seconds to a minute of browser buffering.
Engagement figures are indicative (trending lists), so dropping the rare view that arrives
more than 3 minutes late is the right trade.

A compare event counts for its product and every product in `compared_product_ids`, all in the
event's category (comparisons are made within one category listing).
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
    row,
    window_bookkeeping,
    window_columns,
    with_window,
)
from globalmart.stream.jobs.common import distinct_count, event_time_checks

NAME = "product_view_analyzer"
PRODUCT, CATEGORY, SEARCH, SESSION = "product", "category", "search", "session"
#: engagement_score = (view_count + 2 * compare_count) * (1 + avg_view_seconds / 60)
COMPARE_WEIGHT = 2.0
VIEW_SECONDS_SCALE = 60.0


def checks() -> list[tuple[Column, str]]:
    action = F.col("action")
    return [
        *event_time_checks(),
        (
            action.isin("view", "compare")
            & (F.col("product_id").isNull() | F.col("category_id").isNull()),
            "view or compare without product_id or category_id",
        ),
        (
            (action == "search")
            & (F.col("search_query").isNull() | (F.length(F.trim(F.col("search_query"))) == 0)),
            "search without a query",
        ),
        (F.col("duration_seconds") < 0, "a negative duration_seconds"),
    ]


def _query() -> Column:
    return F.lower(F.trim(F.col("search_query")))


def _product_key(product: Column) -> Column:
    return F.struct(product.alias("k1"), F.lit(None).cast("string").alias("k2"))


def aggregate(events: DataFrame, ctx: JobContext) -> DataFrame:
    action = F.col("action")
    is_view = action == "view"
    trend_products = (
        F.when(is_view, F.array(F.col("product_id")))
        .when(
            action == "compare",
            F.array_distinct(F.concat(F.array(F.col("product_id")), F.col("compared_product_ids"))),
        )
        .otherwise(F.array().cast("array<string>"))
    )
    rows = explode_grains(
        events,
        [
            (PRODUCT, 600, F.transform(trend_products, _product_key)),
            (
                CATEGORY,
                300,
                keys(F.col("category_id"), F.col("country"), when=F.col("category_id").isNotNull()),
            ),
            (SEARCH, 300, keys(_query(), when=action == "search")),
            (SESSION, 300, keys(F.col("session_id"))),
        ],
    )
    latest = F.struct("event_time", "event_id")
    view_seconds = F.when(is_view, F.col("duration_seconds"))
    grouped = group(
        with_window(rows, ctx),
        F.count(F.lit(1)).alias("event_count"),
        F.count_if(is_view).alias("view_count"),
        F.count_if(action == "search").alias("search_count"),
        F.count_if(action == "filter").alias("filter_count"),
        F.count_if(action == "compare").alias("compare_count"),
        F.coalesce(F.avg(view_seconds), F.lit(0.0)).alias("avg_view_seconds"),
        F.coalesce(F.sum(view_seconds), F.lit(0)).cast("long").alias("total_view_seconds"),
        F.max("category_id").alias("category_id"),
        # distinct sets only where a table needs them, to keep the state small
        distinct_count(
            F.when(grain_is(PRODUCT) & is_view, F.col("user_id")).when(
                grain_is(CATEGORY) | grain_is(SEARCH), F.col("user_id")
            )
        ).alias("unique_users"),
        distinct_count(F.when(grain_is(SEARCH), F.col("session_id"))).alias("unique_sessions"),
        distinct_count(
            F.when((grain_is(CATEGORY) | grain_is(SESSION)) & is_view, F.col("product_id"))
        ).alias("unique_products"),
        distinct_count(F.when(grain_is(SESSION), F.col("category_id"))).alias("unique_categories"),
        F.max_by(F.col("user_id"), latest).alias("user_id"),
        F.max_by(F.col("country"), latest).alias("country"),
        F.min("event_time").alias("first_event_at"),
        F.max("event_time").alias("last_event_at"),
    )
    avg_seconds = F.col("avg_view_seconds")
    trending = row(
        "trending_products",
        {
            **window_columns(),
            "product_id": F.col("k1"),
            "category_id": F.col("category_id"),
            "view_count": F.col("view_count"),
            "compare_count": F.col("compare_count"),
            "unique_users": F.col("unique_users"),
            "avg_view_seconds": avg_seconds,
            "engagement_score": (
                F.col("view_count").cast("double")
                + F.lit(COMPARE_WEIGHT) * F.col("compare_count").cast("double")
            )
            * (F.lit(1.0) + avg_seconds / F.lit(VIEW_SECONDS_SCALE)),
            **window_bookkeeping(),
        },
        grain_is(PRODUCT),
    )
    categories = row(
        "category_performance",
        {
            **window_columns(),
            "category_id": F.col("k1"),
            "country": F.col("k2"),
            "view_count": F.col("view_count"),
            "filter_count": F.col("filter_count"),
            "compare_count": F.col("compare_count"),
            "unique_products": F.col("unique_products"),
            "unique_users": F.col("unique_users"),
            "avg_view_seconds": avg_seconds,
            **window_bookkeeping(),
        },
        grain_is(CATEGORY),
    )
    searches = row(
        "search_behavior",
        {
            **window_columns(),
            "search_query": F.col("k1"),
            "search_count": F.col("search_count"),
            "unique_users": F.col("unique_users"),
            "unique_sessions": F.col("unique_sessions"),
            **window_bookkeeping(),
        },
        grain_is(SEARCH),
    )
    sessions = row(
        "browsing_sessions",
        {
            **window_columns(),
            "session_id": F.col("k1"),
            "user_id": F.col("user_id"),
            "country": F.col("country"),
            "event_count": F.col("event_count"),
            "view_count": F.col("view_count"),
            "search_count": F.col("search_count"),
            "filter_count": F.col("filter_count"),
            "compare_count": F.col("compare_count"),
            "unique_products": F.col("unique_products"),
            "unique_categories": F.col("unique_categories"),
            "total_view_seconds": F.col("total_view_seconds"),
            "first_event_at": F.col("first_event_at"),
            "last_event_at": F.col("last_event_at"),
            **window_bookkeeping(),
        },
        grain_is(SESSION),
    )
    return grouped.select(trending, categories, searches, sessions)


JOB = JobSpec(
    name=NAME,
    source="product_view",
    watermark_minutes=3,
    tables=("trending_products", "category_performance", "search_behavior", "browsing_sessions"),
    checks=checks,
    aggregate=aggregate,
    doc=__doc__ or "",
)
