"""PostgreSQL side of the batch jobs: column lists from the catalog, day-wise replace via COPY.

Every write is "replace a slice in one transaction": DELETE the rows of one key (a day, an as-of
date) and COPY the new ones, so re-running a day yields exactly the same table and readers never
see a half-written day. Column lists come from the warehouse Avro schemas (never by hand).
`schema` is the PostgreSQL namespace: `public` in production, a unique one per test.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

from globalmart.core.settings import Settings
from globalmart.schemas.catalog import load_catalog
from globalmart.schemas.ddl import Table, create_table, table_extras, table_spec

__all__ = ["load_catalog"]

PUBLIC = "public"
#: Arrow batches per COPY chunk: bounds the driver's CSV buffer
_COPY_ROWS = 50_000


def warehouse_table(name: str) -> Table:
    """The table spec (columns, key) of a warehouse table, from its latest Avro schema."""
    entry = load_catalog().entry(name)
    if entry.database != "warehouse":
        raise ValueError(f"{name} is not a warehouse table")
    return table_spec(entry.latest)


def columns(name: str) -> list[str]:
    return [c.name for c in warehouse_table(name).columns]


@contextmanager
def connect(settings: Settings, schema: str = PUBLIC) -> Iterator[psycopg.Connection]:
    """A writer connection to the warehouse whose unqualified names resolve in `schema`."""
    with psycopg.connect(settings.postgres_dsn("warehouse"), connect_timeout=10) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        conn.commit()
        yield conn


def ensure_schema(settings: Settings, schema: str) -> None:
    """Create `schema` and every warehouse table in it (for isolated runs; `public` already has
    them from the stack's DDL). Idempotent."""
    catalog = load_catalog()
    with connect(settings, schema) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                sql.Identifier(schema), sql.Identifier(settings.postgres_reader_user)
            )
        )
        for entry in catalog.tables("warehouse"):
            table = table_spec(entry.latest)
            conn.execute(create_table(table).encode())
            for statement in table_extras(table, settings.postgres_reader_user):
                conn.execute(statement.encode())


def drop_schema(settings: Settings, schema: str) -> None:
    if schema == PUBLIC:
        raise ValueError("refusing to drop the public schema")
    with connect(settings, PUBLIC) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def copy_arrow(conn: psycopg.Connection, table: str, data: pa.Table, cols: Sequence[str]) -> int:
    """COPY an Arrow table into `table` (columns `cols`, same order) as CSV; returns rows."""
    data = data.select(list(cols))
    query = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in cols)
    )
    options = pacsv.WriteOptions(include_header=False)
    with conn.cursor().copy(query) as copy:
        for batch in data.to_batches(max_chunksize=_COPY_ROWS):
            buffer = io.BytesIO()
            # Arrow writes NULL as an unquoted empty field and "" as a quoted one: exactly
            # PostgreSQL's CSV convention; timestamps as ISO with Z, decimals exact.
            pacsv.write_csv(pa.Table.from_batches([batch]), buffer, options)
            copy.write(buffer.getvalue())
    return data.num_rows


def replace_slice(
    conn: psycopg.Connection,
    table: str,
    where: str,
    params: Sequence[Any],
    data: pa.Table,
) -> int:
    """In one transaction: DELETE FROM table WHERE <where>; COPY data. Returns the rows written."""
    cols = columns(table)
    with conn.transaction():
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE ").format(sql.Identifier(table)) + sql.SQL(where),
            params,
        )
        return copy_arrow(conn, table, data, cols)


def upsert(conn: psycopg.Connection, table: str, data: pa.Table, *, update: bool = True) -> int:
    """Insert rows, replacing (or keeping, with update=False) rows with the same primary key."""
    spec = warehouse_table(table)
    cols = [c.name for c in spec.columns]
    stage = f"_stage_{table}"
    key = spec.primary_key
    rest = [c for c in cols if c not in key]
    action = (
        sql.SQL("DO UPDATE SET ")
        + sql.SQL(", ").join(
            sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in rest
        )
        if update and rest
        else sql.SQL("DO NOTHING")
    )
    with conn.transaction():
        conn.execute(
            sql.SQL("CREATE TEMP TABLE {} (LIKE {}) ON COMMIT DROP").format(
                sql.Identifier(stage), sql.Identifier(table)
            )
        )
        copy_arrow(conn, stage, data, cols)
        conn.execute(
            sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT ({}) ").format(
                sql.Identifier(table),
                sql.SQL(", ").join(sql.Identifier(c) for c in cols),
                sql.SQL(", ").join(sql.Identifier(c) for c in cols),
                sql.Identifier(stage),
                sql.SQL(", ").join(sql.Identifier(c) for c in key),
            )
            + action
        )
    return data.num_rows


def fetch_rows(
    conn: psycopg.Connection, query: str, params: Sequence[Any] = ()
) -> list[tuple[Any, ...]]:
    rows: Any = conn.execute(query.encode(), params).fetchall()
    return list(rows)
