"""`bench batch`: one day at the spec's volume through the nightly batch, and the same aggregates
by DuckDB in the same run, as a ratio.

The day: 100,000 transactions (1-3 lines each), 600,000 product views, 300,000 cart events,
10K users and 1K products, generated inside Spark into a scratch archive. Spark runs every job
(ETL with dimensions and ~1.2M fact rows COPYed into PostgreSQL, RFM, product performance, sales
trends, sales history) into a scratch PostgreSQL schema; DuckDB computes the same aggregates
(daily totals per country and category, RFM measures, the product funnel) from the same Parquet
files, without writing anything. Ratio = Spark seconds / DuckDB seconds. Scratch data is removed
afterwards.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from datetime import date
from typing import Any

from globalmart.core.settings import Settings
from globalmart.stack.base import StatePaths

DAY = date(2026, 1, 15)
TRANSACTIONS = 100_000

DUCKDB_AGGREGATES = {
    "daily_sales": """
        SELECT t.country, i.category_id, count(DISTINCT t.transaction_id), sum(i.quantity),
               sum(i.line_amount)
        FROM tx t, unnest(t.items) AS u(i) GROUP BY 1, 2""",
    "rfm": """
        WITH u AS (SELECT user_id, max(event_time) AS last, count(DISTINCT transaction_id) AS f,
                          sum(total_amount) AS m FROM tx GROUP BY 1)
        SELECT user_id, rank() OVER (ORDER BY last), rank() OVER (ORDER BY f),
               rank() OVER (ORDER BY m) FROM u""",
    "product_funnel": """
        WITH v AS (SELECT product_id, count(*) AS views FROM pv WHERE action = 'view' GROUP BY 1),
             c AS (SELECT product_id, count(*) FILTER (WHERE action = 'add') AS adds
                   FROM ce WHERE product_id IS NOT NULL GROUP BY 1),
             l AS (SELECT i.product_id, count(DISTINCT transaction_id) AS orders,
                          sum(i.line_amount) AS revenue FROM tx, unnest(items) AS u(i) GROUP BY 1)
        SELECT * FROM v FULL JOIN c USING (product_id) FULL JOIN l USING (product_id)""",
    "fact_rows": """
        SELECT (SELECT count(*) FROM tx, unnest(items)), (SELECT count(*) FROM pv),
               (SELECT count(*) FROM ce)""",
}


def _duckdb(archive: str) -> dict[str, float]:
    import duckdb

    timings: dict[str, float] = {}
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for name, event_type in (("tx", "transaction"), ("pv", "product_view"), ("ce", "cart_event")):
        con.execute(
            f"CREATE VIEW {name} AS SELECT * FROM "
            f"read_parquet('{archive}/{event_type}/*/*.parquet')"
        )
    for name, query in DUCKDB_AGGREGATES.items():
        clock = time.perf_counter()
        con.execute(query).fetchall()
        timings[name] = round(time.perf_counter() - clock, 3)
    con.close()
    return timings


def run_batch_bench(settings: Settings, as_json: bool) -> dict[str, Any]:
    """Run the benchmark on the local stack; print and return the figures."""
    from globalmart.spark.session import get_spark
    from globalmart.warehouse import pg
    from globalmart.warehouse.etl import Target
    from globalmart.warehouse.runner import run_day
    from globalmart.warehouse.synthetic import generate_day

    scratch = StatePaths(settings.globalmart_state_dir).data / "bench" / uuid.uuid4().hex[:8]
    archive = str(scratch / "archive")
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    spark = get_spark("globalmart-bench-batch", settings)
    try:
        clock = time.perf_counter()
        counts = generate_day(spark, archive, DAY, TRANSACTIONS)
        generate_s = time.perf_counter() - clock
        # Synthetic ids have no published reference records: dimensions get inferred members.
        target = Target(
            settings, archive, str(scratch / "reference"), schema, reference_topic_prefix=None
        )
        pg.ensure_schema(settings, schema)
        clock = time.perf_counter()
        records = run_day(spark, target, DAY)
        spark_s = time.perf_counter() - clock
        duck = _duckdb(archive)
    finally:
        spark.stop()
        pg.drop_schema(settings, schema)
        shutil.rmtree(scratch, ignore_errors=True)
    duck_s = sum(duck.values())
    result = {
        "day": DAY.isoformat(),
        "events": counts,
        "generate_s": round(generate_s, 1),
        "spark_jobs": {r["job"]: {"seconds": r["duration_s"], "rows": r["rows"]} for r in records},
        "spark_total_s": round(spark_s, 1),
        "duckdb_s": duck,
        "duckdb_total_s": round(duck_s, 2),
        "ratio_spark_over_duckdb": round(spark_s / duck_s, 1) if duck_s else None,
        "note": "Spark writes ~1.2M fact rows and the analytics into PostgreSQL; DuckDB only "
        "computes the aggregates in memory.",
    }
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        _print_table(result)
    return result


def _print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"bench batch: one day ({result['events']})")
    for column in ("step", "seconds", "rows"):
        table.add_column(column)
    for job, figures in result["spark_jobs"].items():
        rows = ", ".join(f"{k} {v}" for k, v in figures["rows"].items())
        table.add_row(f"spark {job}", f"{figures['seconds']:.1f}", rows)
    table.add_row("spark total", f"{result['spark_total_s']:.1f}", "")
    for name, seconds in result["duckdb_s"].items():
        table.add_row(f"duckdb {name}", f"{seconds:.2f}", "")
    table.add_row("duckdb total", f"{result['duckdb_total_s']:.2f}", "")
    Console().print(table)
    Console().print(
        f"ratio Spark / DuckDB: {result['ratio_spark_over_duckdb']}x  " f"({result['note']})"
    )
