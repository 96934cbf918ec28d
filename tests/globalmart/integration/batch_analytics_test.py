"""The nightly batch on a seeded archive and the published reference topics, checked against an
independent computation (DuckDB over the same Parquet files, the generator's reference module):
dimension attributes, SCD2 versions after a changed reference record, fact totals, RFM scores and
segments, product conversion and abandonment, sales trends, weekly and monthly history; then
idempotency (a day run twice -> same warehouse) and the run log.

One Spark session and one seeded world for the module: day 1 ETL only, day 2 archive only, day 3
every job; a product's price changes (a new reference record) between day 1 and day 3."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest
from pyspark.sql import SparkSession

from globalmart.core.runlog import BATCH_RUNS, RunLog
from globalmart.core.settings import Settings
from globalmart.generators.codec import compile_encoder, confluent_header
from globalmart.generators.reference import Reference
from globalmart.generators.reference_topics import TOPICS, content_id, publish_reference
from globalmart.schemas.catalog import load_catalog
from globalmart.schemas.registry import Registry
from globalmart.spark.session import get_spark
from globalmart.stack.kafka import delete_topics
from globalmart.stack.testing import unique_name
from globalmart.warehouse import kafka_seed, pg, seed
from globalmart.warehouse.etl import Target
from globalmart.warehouse.runner import run_range

D1 = date(2026, 2, 28)  # a Saturday: the week of 23 February, and February
D2 = D1 + timedelta(days=1)  # archived, never run
D3 = D1 + timedelta(days=2)  # a Monday in March: a new week and a new month
SEED, USERS, PRODUCTS = 11, 40, 20
CHANGED_AT = datetime.combine(D2, datetime.min.time(), UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class World:
    settings: Settings
    target: Target
    archive: Path
    data: seed.SeedData
    records: list[dict[str, Any]]
    product_topic: str
    #: the product whose price changes on day 2 (sold on day 1 and day 3)
    changed: str


@pytest.fixture(scope="module")
def spark(live_stack: Callable[..., Settings]) -> Iterator[SparkSession]:
    live_stack("spark")
    # A few dozen rows per job: one shuffle partition, and no adaptive execution (it re-plans
    # every shuffle as a job of its own: several times the run time on data this small).
    session = get_spark(
        "batch-analytics-test",
        shuffle_partitions=1,
        conf={"spark.sql.adaptive.enabled": "false"},
    )
    yield session
    session.stop()


def _sold_on_both_days(data: seed.SeedData) -> str:
    sold: dict[date, set[str]] = {}
    for event in data.events["transaction"]:
        day = sold.setdefault(event["event_time"].date(), set())
        day.update(i["product_id"] for i in event["items"])
    return min(sold[D1] & sold[D3])


def _publish_changed_product(settings: Settings, topic: str, product_id: str) -> None:
    """A new catalog record for the product (price + 5, as of day 2) and a message no schema
    reads."""
    version = load_catalog().entry("product").latest
    with Registry.from_settings(settings) as registry:
        encode = compile_encoder(version.data, confluent_header(content_id(registry, version)))
    record = Reference(SEED).product_by_id(product_id)
    record.update(
        price=record["price"] + Decimal("5.00"), updated_at=int(CHANGED_AT.timestamp()) * 10**6
    )
    kafka_seed.produce(
        settings,
        topic,
        [encode(record), b"\x00\x00\x0f\x42\x3fnot a product"],
        [product_id.encode(), b"bad"],
    )


@pytest.fixture(scope="module")
def world(
    live_stack: Callable[..., Settings],
    spark: SparkSession,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    settings = live_stack(
        "postgres-warehouse", "postgres-realtime", "ferretdb", "kafka", "apicurio"
    )
    root = tmp_path_factory.mktemp("batch")
    archive, reference = root / "archive", root / "reference"
    data = seed.generate(SEED, D1, 3, 12, users=USERS, products=PRODUCTS)
    seed.load_into_archive(spark, data, str(archive), None)
    # A producer retry: day 1's purchases archived a second time (the jobs deduplicate).
    retry = seed.SeedData(
        events={
            "transaction": [e for e in data.events["transaction"] if e["event_time"].date() == D1]
        }
    )
    seed.load_into_archive(spark, retry, str(archive), None, token="retry")
    prefix = unique_name("wh-ref") + "-"
    topics = [f"{prefix}{t}" for t in TOPICS.values()]
    schema = unique_name("wh_test").replace("-", "_")
    target = Target(settings, str(archive), str(reference), schema, reference_topic_prefix=prefix)
    try:
        publish_reference(settings, SEED, USERS, PRODUCTS, prefix)
        records = run_range(spark, target, D1, D1, jobs=["etl"])
        product_topic = f"{prefix}{TOPICS['product']}"
        changed = _sold_on_both_days(data)
        _publish_changed_product(settings, product_topic, changed)
        records += run_range(spark, target, D3, D3)
        yield World(settings, target, archive, data, records, product_topic, changed)
    finally:
        pg.drop_schema(settings, schema)
        delete_topics(settings.kafka_bootstrap_servers, topics)


def _pg(world: World, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with pg.connect(world.settings, world.target.schema) as conn:
        return pg.fetch_rows(conn, query, params)


def _duck(world: World, query: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for event_type in ("transaction", "cart_event", "product_view"):
        glob = f"{world.archive}/{event_type}/*/*.parquet"
        con.execute(
            f"CREATE VIEW {event_type} AS SELECT DISTINCT ON (event_id) * "
            f"FROM read_parquet('{glob}', hive_partitioning = true)"
        )
    con.execute(
        "CREATE VIEW line AS SELECT t.transaction_id, t.user_id, t.country, t.event_date, "
        "t.event_time, i.* FROM transaction t, unnest(t.items) AS u(i)"
    )
    return [tuple(r) for r in con.execute(query).fetchall()]


def test_every_job_ran_and_was_recorded(world: World) -> None:
    assert [(r["job"], r["status"]) for r in world.records] == [
        ("etl", "ok"),
        ("etl", "ok"),
        ("rfm", "ok"),
        ("product_performance", "ok"),
        ("sales_trends", "ok"),
        ("sales_history", "ok"),
    ]
    # Day 1 copied the whole published catalog, day 3 only the changed record.
    assert world.records[0]["rows"]["reference_snapshot"] == USERS + PRODUCTS + 100 + 5
    assert world.records[1]["rows"]["reference_snapshot"] == 1
    d1_orders = [e for e in world.data.events["transaction"] if e["event_time"].date() == D1]
    reconciliation = world.records[0]["reconciliation"]
    assert reconciliation["warehouse_orders"] == len(d1_orders)
    assert Decimal(reconciliation["warehouse_revenue"]) == sum(e["total_amount"] for e in d1_orders)
    with RunLog(world.settings) as runlog:
        stored = runlog.latest(BATCH_RUNS, where={"run_id": world.records[-1]["run_id"]})
    assert sorted(d["job"] for d in stored) == [
        "etl",
        "product_performance",
        "rfm",
        "sales_history",
        "sales_trends",
    ]
    assert all(d["duration_s"] > 0 and d["row_total"] > 0 for d in stored)


def test_dimensions_carry_the_published_reference_attributes(world: World) -> None:
    ref = Reference(SEED)
    customers = _pg(
        world,
        "SELECT user_id, age, gender, country, city, loyalty_tier, registered_at "
        "FROM dim_customer WHERE is_current ORDER BY user_id",
    )
    expected = []
    for user in ref.users(USERS):
        registered = datetime.fromtimestamp(user["registered_at"] / 1e6, UTC)
        expected.append(
            (
                user["user_id"],
                user["age"],
                user["gender"],
                user["country"],
                user["city"],
                user["loyalty_tier"],
                registered,
            )
        )
    assert customers == expected
    products = _pg(
        world,
        "SELECT product_id, name, category_id, brand, price, is_active FROM dim_product "
        "WHERE valid_from = %s ORDER BY product_id",
        EPOCH,
    )  # the first versions: the published catalog
    assert products == [
        (p["product_id"], p["name"], p["category_id"], p["brand"], p["price"], p["is_active"])
        for p in ref.products(PRODUCTS)
    ]
    categories = _pg(world, "SELECT category_id, name, department FROM dim_category ORDER BY 1")
    assert categories == [(c["category_id"], c["name"], c["department"]) for c in ref.categories()]
    geography = _pg(world, "SELECT country, country_name, currency FROM dim_geography ORDER BY 1")
    assert geography == sorted(
        (c["country"], c["country_name"], c["currency"]) for c in ref.countries()
    )


def test_an_unreadable_reference_message_is_dead_lettered(world: World) -> None:
    with psycopg.connect(world.settings.postgres_dsn("realtime")) as conn:
        rows = conn.execute(
            "SELECT key, reason, failed_by FROM dead_letters WHERE kafka_topic = %s",
            (world.product_topic,),
        ).fetchall()
    assert rows == [(b"bad", "unknown schema id 999999", "reference_snapshot")]


def test_fact_totals_match_the_archive(world: World) -> None:
    ours = _pg(
        world,
        "SELECT date_key, count(*), sum(line_amount), sum(quantity) "
        "FROM fact_sales GROUP BY 1 ORDER BY 1",
    )
    theirs = _duck(
        world,
        f"SELECT CAST(strftime(event_date, '%Y%m%d') AS INT), count(*), "
        f"sum(line_amount), sum(quantity) FROM line WHERE event_date <> DATE '{D2}' "
        "GROUP BY 1 ORDER BY 1",
    )
    assert ours == [(a, b, c, int(d)) for a, b, c, d in theirs]
    assert len(ours) == 2
    for table, source in (
        ("fact_cart_events", "cart_event"),
        ("fact_product_views", "product_view"),
    ):
        ours = _pg(world, f"SELECT date_key, count(*) FROM {table} GROUP BY 1 ORDER BY 1")
        theirs = _duck(
            world,
            f"SELECT CAST(strftime(event_date, '%Y%m%d') AS INT), count(*) "
            f"FROM {source} WHERE event_date <> DATE '{D2}' "
            "GROUP BY 1 ORDER BY 1",
        )
        assert ours == theirs, table
    snapshot = _pg(
        world,
        "SELECT sum(revenue), sum(units_sold), sum(view_count) " "FROM fact_daily_product_snapshot",
    )
    not_d2 = f"event_date <> DATE '{D2}'"
    expected = _duck(
        world,
        f"SELECT (SELECT sum(line_amount) FROM line WHERE {not_d2}), "
        f"(SELECT sum(quantity) FROM line WHERE {not_d2}), "
        f"(SELECT count(*) FROM product_view WHERE action = 'view' "
        f"AND {not_d2})",
    )
    assert snapshot == [(expected[0][0], int(expected[0][1]), int(expected[0][2]))]


def test_a_changed_reference_record_is_a_new_version_and_facts_follow(world: World) -> None:
    versions = _pg(
        world,
        "SELECT price, valid_from, valid_to, is_current, product_key "
        "FROM dim_product WHERE product_id = %s ORDER BY valid_from",
        world.changed,
    )
    assert len(versions) == 2
    (old_price, first_from, first_to, first_current, old_key), new = versions
    assert old_price == Reference(SEED).product_by_id(world.changed)["price"]
    assert first_from == EPOCH and not first_current
    assert first_to == new[1] == CHANGED_AT
    assert new[0] == old_price + Decimal("5.00") and new[3] and new[2] is None
    keys = _pg(
        world,
        "SELECT date_key, array_agg(DISTINCT product_key) FROM fact_sales "
        "WHERE product_key IN (%s, %s) GROUP BY 1 ORDER BY 1",
        old_key,
        new[4],
    )
    assert keys == [(20260228, [old_key]), (20260302, [new[4]])]
    # Every fact row found its dimensions.
    assert _pg(
        world,
        "SELECT count(*) FROM fact_sales f LEFT JOIN dim_customer c "
        "USING (customer_key) WHERE c.user_id IS NULL",
    ) == [(0,)]


RFM_SQL = f"""
WITH u AS (
    SELECT user_id, DATE '{D3}' - max(CAST(event_time AS DATE)) AS recency_days,
           count(DISTINCT transaction_id) AS frequency, sum(total_amount) AS monetary
    FROM transaction WHERE event_date <= DATE '{D3}' GROUP BY user_id
), s AS (
    SELECT *, count(*) OVER () AS n,
           rank() OVER (ORDER BY recency_days DESC) AS rr,
           rank() OVER (ORDER BY frequency) AS fr,
           rank() OVER (ORDER BY monetary) AS mr
    FROM u
), q AS (
    SELECT user_id, recency_days, frequency, monetary,
           1 + (5 * (rr - 1)) // n AS r, 1 + (5 * (fr - 1)) // n AS f, 1 + (5 * (mr - 1)) // n AS m
    FROM s
)
SELECT user_id, recency_days, frequency, monetary, r, f, m,
       CASE WHEN r >= 4 AND f >= 4 AND m >= 4 THEN 'champions'
            WHEN r <= 2 AND f >= 4 AND m >= 4 THEN 'cannot_lose'
            WHEN r >= 3 AND f >= 4 THEN 'loyal'
            WHEN r <= 2 AND f >= 3 THEN 'at_risk'
            WHEN r >= 4 AND f = 1 THEN 'new'
            WHEN r >= 3 THEN 'potential_loyalist'
            WHEN r = 2 THEN 'hibernating'
            ELSE 'lost' END
FROM q ORDER BY user_id
"""


def test_rfm_matches_duckdb(world: World) -> None:
    ours = _pg(
        world,
        "SELECT user_id, recency_days, frequency, monetary, r_score, f_score, "
        "m_score, segment FROM rfm_segments WHERE as_of_date = %s ORDER BY user_id",
        D3,
    )
    theirs = [
        (u, int(rd), int(f), mo, int(r), int(fs), int(m), s)
        for u, rd, f, mo, r, fs, m, s in _duck(world, RFM_SQL)
    ]
    assert ours == theirs
    assert len({row[-1] for row in ours}) >= 3  # the seed spreads customers over segments


PERF_SQL = """
WITH v AS (SELECT product_id, count(*) AS views FROM product_view
           WHERE action = 'view' AND product_id IS NOT NULL GROUP BY 1),
c AS (SELECT product_id, count(*) FILTER (WHERE action = 'add') AS adds FROM cart_event
      WHERE product_id IS NOT NULL GROUP BY 1),
l AS (SELECT product_id, count(DISTINCT transaction_id) AS orders, sum(quantity) AS units,
             sum(line_amount) AS revenue FROM line GROUP BY 1),
a AS (SELECT product_id, session_id, min(event_time) AS added FROM cart_event
      WHERE action = 'add' GROUP BY 1, 2),
x AS (SELECT session_id, min(event_time) AS gone FROM cart_event WHERE action = 'abandon'
      GROUP BY 1),
s AS (SELECT product_id, count(*) AS carted,
             count(*) FILTER (WHERE x.gone > a.added) AS abandoned
      FROM a LEFT JOIN x USING (session_id) GROUP BY 1)
SELECT product_id, coalesce(views, 0), coalesce(adds, 0), coalesce(orders, 0),
       coalesce(units, 0), coalesce(revenue, 0), coalesce(carted, 0), coalesce(abandoned, 0)
FROM v FULL JOIN c USING (product_id) FULL JOIN l USING (product_id)
     FULL JOIN s USING (product_id)
ORDER BY product_id
"""


def test_product_performance_matches_duckdb(world: World) -> None:
    ours = _pg(
        world,
        "SELECT product_id, view_count, cart_add_count, order_count, units_sold, "
        "revenue, carted_session_count, abandoned_session_count, "
        "view_to_purchase_rate, abandonment_rate, revenue_rank "
        "FROM product_performance WHERE as_of_date = %s ORDER BY product_id",
        D3,
    )
    theirs = _duck(world, PERF_SQL)
    assert [r[:8] for r in ours] == [
        (p, int(v), int(a), int(o), int(u), Decimal(r), int(c), int(x))
        for p, v, a, o, u, r, c, x in theirs
    ]
    for row in ours:
        assert row[8] == pytest.approx(row[3] / row[1] if row[1] else 0.0)
        assert row[9] == pytest.approx(row[7] / row[6] if row[6] else 0.0)
    top = max(ours, key=lambda r: r[5])
    assert top[10] == 1
    assert any(r[7] > 0 for r in ours)  # some sessions abandoned their carts


def _cents(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def test_sales_trends_match_duckdb(world: World) -> None:
    theirs = _duck(
        world,
        f"""
        WITH d AS (SELECT event_date, country, category_id, count(DISTINCT transaction_id) AS o,
                          sum(quantity) AS u, sum(line_amount) AS r FROM line GROUP BY 1, 2, 3)
        SELECT t.country, t.category_id, t.o, t.u, t.r, round(t.r / t.o, 2),
               round((SELECT sum(r) FROM d w WHERE w.country = t.country
                      AND w.category_id = t.category_id
                      AND w.event_date > DATE '{D3}' - 7) / 7, 2),
               (SELECT 100.0 * (t.r - p.r) / p.r FROM d p WHERE p.country = t.country
                AND p.category_id = t.category_id AND p.event_date = DATE '{D3}' - 1)
        FROM d t WHERE t.event_date = DATE '{D3}' ORDER BY 1, 2""",
    )
    ours = _pg(
        world,
        "SELECT country, category_id, order_count, units_sold, revenue, "
        "avg_order_value, revenue_7d_avg, revenue_change_pct FROM sales_trends "
        "WHERE sales_date = %s ORDER BY 1, 2",
        D3,
    )
    assert [r[:7] for r in ours] == [
        (c, k, int(o), int(u), r, _cents(a), _cents(m)) for c, k, o, u, r, a, m, _ in theirs
    ]
    for mine, other in zip(ours, theirs):
        if other[7] is None:
            assert mine[7] is None
        else:
            assert mine[7] == pytest.approx(float(other[7]))


def _half_up(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_sales_history_matches_duckdb(world: World) -> None:
    week, month = D3 - timedelta(days=D3.weekday()), D3.replace(day=1)
    # Previous periods and the moving averages' spans, computed here rather than by the job.
    spans = {"week": (week - timedelta(weeks=1), week - timedelta(weeks=3), 4),
             "month": (date(2026, 2, 1), date(2026, 1, 1), 3)}  # fmt: skip
    totals = _duck(
        world,
        f"""
        SELECT period, s, country, category_id, count(DISTINCT transaction_id), sum(quantity),
               sum(line_amount)
        FROM (SELECT 'week' AS period, CAST(date_trunc('week', event_date) AS DATE) AS s, *
              FROM line UNION ALL
              SELECT 'month', CAST(date_trunc('month', event_date) AS DATE), * FROM line)
        WHERE event_date <= DATE '{D3}' GROUP BY ALL""",
    )
    by_key = {(p, s, c, k): (o, u, r) for p, s, c, k, o, u, r in totals}
    expected = []
    for (period, start, country, category), (orders, units, revenue) in sorted(by_key.items()):
        if start != (week if period == "week" else month):
            continue
        previous, first, count = spans[period]
        before = by_key.get((period, previous, country, category))
        growth = float(100 * (revenue - before[2]) / before[2]) if before else None
        span = sum(
            r for (p, s, c, k), (_, _, r) in by_key.items()
            if (p, c, k) == (period, country, category) and first <= s <= start
        )  # fmt: skip
        expected.append(
            (period, start, D3, country, category, int(orders), int(units), revenue,
             _half_up(revenue / orders), growth, _half_up(Decimal(span) / count))
        )  # fmt: skip
    ours = _pg(
        world,
        "SELECT period, period_start, as_of_date, country, category_id, order_count, "
        "units_sold, revenue, avg_order_value, revenue_growth_pct, revenue_moving_avg "
        "FROM sales_history ORDER BY 1, 2, 4, 5",
    )
    assert [r[:9] + r[10:] for r in ours] == [r[:9] + r[10:] for r in expected]
    assert [r[9] for r in ours] == pytest.approx([r[9] for r in expected])
    assert {r[0] for r in ours} == {"week", "month"}
    assert any(r[9] is not None for r in ours)  # some groups sold in the previous period too


def test_bi_views_are_readable_by_the_reader(world: World) -> None:
    reader = world.settings.postgres_dsn("warehouse", reader=True)
    with psycopg.connect(reader) as conn:
        conn.execute(f'SET search_path TO "{world.target.schema}"')
        kpis = conn.execute("SELECT full_date, revenue FROM bi_daily_kpis ORDER BY 1").fetchall()
        weekly = conn.execute("SELECT week_start, sum(revenue) FROM bi_sales_weekly GROUP BY 1")
        monthly = conn.execute("SELECT month_start, sum(revenue) FROM bi_sales_monthly GROUP BY 1")
        weeks, months = weekly.fetchall(), monthly.fetchall()
    totals = _duck(
        world,
        f"SELECT event_date, sum(line_amount) FROM line "
        f"WHERE event_date <> DATE '{D2}' GROUP BY 1 ORDER BY 1",
    )
    assert kpis == totals
    # sales_history ran for day 3 only: its week (day 3) and its month (days 2 and 3)
    d2 = _duck(world, f"SELECT sum(line_amount) FROM line WHERE event_date = DATE '{D2}'")[0][0]
    assert weeks == [(D3, totals[-1][1])]
    assert months == [(D3.replace(day=1), totals[-1][1] + d2)]


def _warehouse_state(world: World) -> dict[str, list[tuple[Any, ...]]]:
    state = {}
    for table in pg.load_catalog().tables("warehouse"):
        cols = [c for c in pg.columns(table.name) if c not in ("loaded_at", "computed_at")]
        state[table.name] = _pg(
            world, f"SELECT {', '.join(cols)} FROM {table.name} " f"ORDER BY {', '.join(cols)}"
        )
    return state


def test_rerunning_a_day_changes_nothing(world: World, spark: SparkSession) -> None:
    before = _warehouse_state(world)
    records = run_range(spark, world.target, D3, D3)
    assert all(r["status"] == "ok" for r in records)
    after = _warehouse_state(world)
    assert after == before
    assert before["fact_sales"] and before["rfm_segments"]
