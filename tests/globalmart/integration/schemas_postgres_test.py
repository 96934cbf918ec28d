"""The sink schemas as live PostgreSQL tables: applied DDL compared column by column.

The real tables are applied to the shared databases (applying is idempotent and additive, and is
what the stack does on start). Evolution is tried on a table of a throwaway tree with a unique
name, dropped afterwards.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from globalmart.core.settings import Settings
from globalmart.schemas.catalog import load_catalog
from globalmart.schemas.ddl import apply_ddl, compare, describe_live, expected_tables
from globalmart.schemas.testing import SchemaTree, sample_table
from globalmart.stack.testing import unique_name

Require = Callable[..., Settings]


@pytest.mark.parametrize("database", ["realtime", "warehouse"])
def test_live_tables_match_the_schemas(live_stack: Require, database: str) -> None:
    settings = live_stack(f"postgres-{database}")
    catalog = load_catalog()
    report = apply_ddl(settings, database, catalog)
    assert report.drift == []
    live = describe_live(settings, database)
    expected = expected_tables(catalog, database)
    # Column by column: name, type, NOT NULL, comment; then keys, indexes and the reader grant.
    assert compare(expected, live) == []
    for table in expected:
        # Same columns; a later version's fields are appended by ALTER TABLE, so order may differ.
        assert sorted(c.name for c in live[table.name].columns) == sorted(
            c.name for c in table.columns
        )
        assert live[table.name].reader_can_select is True
    sales = live.get("sales_per_minute") or live["fact_sales"]
    assert sales.primary_key  # natural keys made it into PRIMARY KEY constraints
    again = apply_ddl(settings, database, catalog)
    assert again.created == [] and again.added_columns == []


def test_spec_example_queries_run_as_the_reader(live_stack: Require) -> None:
    settings = live_stack("postgres-realtime")
    apply_ddl(settings, "realtime")
    with psycopg.connect(settings.postgres_dsn("realtime", reader=True)) as conn:
        for query in (
            "SELECT * FROM sales_per_minute ORDER BY window_start DESC LIMIT 10",
            "SELECT * FROM high_value_anomalies ORDER BY detected_at DESC LIMIT 5",
            "SELECT * FROM high_demand_alerts ORDER BY alert_generated_at DESC LIMIT 10",
            "SELECT window_start, window_end, created_at FROM sales_per_minute LIMIT 5",
        ):
            conn.execute(query).fetchall()
    # Read-only by grant, not only by its read-only default: even a read-write transaction fails.
    with psycopg.connect(settings.postgres_dsn("realtime", reader=True)) as conn:
        conn.execute("SET TRANSACTION READ WRITE")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM sales_per_minute")


def test_a_new_version_adds_its_column_with_the_default(
    live_stack: Require, tmp_path: Path
) -> None:
    settings = live_stack("postgres-realtime")
    name = unique_name("orders_per_minute").replace("-", "_")
    tree = SchemaTree(tmp_path)
    v1 = sample_table()
    v1["name"] = name
    tree.write(v1, 1)
    try:
        assert apply_ddl(settings, "realtime", tree.catalog()).created == [name]
        now = dt.datetime.now(dt.timezone.utc)
        with psycopg.connect(settings.postgres_dsn("realtime")) as conn:
            conn.execute(
                f"INSERT INTO {name} VALUES (%s, %s, 'US', 3, %s, false, %s, %s)",
                (now, now, Decimal("12.50"), now, now),
            )
        tree.evolve(
            v1,
            2,
            lambda s: s["fields"].append(
                {"name": "channel", "type": "string", "default": "web", "doc": "Sales channel."}
            ),
        )
        report = apply_ddl(settings, "realtime", tree.catalog())
        assert report.added_columns == [f"{name}.channel"] and report.drift == []
        with psycopg.connect(settings.postgres_dsn("realtime")) as conn:
            row = conn.execute(f"SELECT channel, revenue FROM {name}").fetchone()
        assert row == ("web", Decimal("12.50"))
        assert (
            compare(
                expected_tables(tree.catalog(), "realtime"), describe_live(settings, "realtime")
            )
            == []
        )
    finally:
        with psycopg.connect(settings.postgres_dsn("realtime"), autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {name}")
