"""PostgreSQL DDL generated from the sink schemas (kinds `realtime` and `warehouse`).

The latest version of each table's schema decides its columns: Avro type -> PostgreSQL type (see
`sql_type`), NOT NULL unless the field is a ["null", X] union, the record's `primary_key` and
`indexes`, the docs as COMMENTs, SELECT for the reader role. No column list is written by hand
anywhere else.

Applying is additive and idempotent: missing tables are created, columns a newer schema version
added are added (with the field's default, which the compatibility policy requires), indexes,
comments and grants are (re)applied. Nothing is ever dropped or retyped: a difference that would
need that is reported as drift by `compare`, for a human to resolve.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg

from globalmart.core.settings import Settings
from globalmart.schemas.catalog import Catalog, SchemaVersion, load_catalog

#: one advisory lock for every DDL run, so parallel test processes never race on CREATE TABLE
_DDL_LOCK = 4_801_517_020_211_124
_MAX_IDENTIFIER = 63
_PLAIN = re.compile(r"^[a-z_][a-z0-9_]*$")
#: PostgreSQL's reserved key words: names that would need quoting (lint refuses them)
RESERVED = frozenset(
    """all analyse analyze and any array as asc asymmetric authorization binary both case cast
    check collate collation column concurrently constraint create cross current_catalog
    current_date current_role current_schema current_time current_timestamp current_user default
    deferrable desc distinct do else end except false fetch for foreign freeze from full grant
    group having ilike in initially inner intersect into is isnull join lateral leading left like
    limit localtime localtimestamp natural not notnull null offset on only or order outer
    overlaps placing primary references returning right select session_user similar some
    symmetric system_user table tablesample then to trailing true union unique user using
    variadic verbose when where window with""".split()
)
#: how DDL spells a type where PostgreSQL's format_type() is long-winded
_SHORT = {"timestamp with time zone": "timestamptz", "time without time zone": "time"}
_PRIMITIVES = {
    "boolean": "boolean",
    "int": "integer",
    "long": "bigint",
    "float": "real",
    "double": "double precision",
    "string": "text",
    "bytes": "bytea",
}


class UnsupportedType(ValueError):
    """An Avro type with no column mapping (a nested record, a non-null union, local time)."""


@dataclass(frozen=True)
class Column:
    name: str
    #: the type as PostgreSQL's format_type() prints it, e.g. numeric(12,2)
    sql_type: str
    not_null: bool
    comment: str
    #: SQL expression for DEFAULT, from the field's Avro default (None: no default)
    default: str | None = None


@dataclass
class Table:
    name: str
    comment: str
    columns: list[Column]
    primary_key: list[str]
    indexes: list[list[str]] = field(default_factory=list)
    #: live tables only: may the reader role SELECT? (None: not checked)
    reader_can_select: bool | None = None

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


# -- Avro -> PostgreSQL ------------------------------------------------------------------------
def sql_type(avro_type: Any) -> tuple[str, bool]:
    """(PostgreSQL type, nullable) for a field's Avro type."""
    if isinstance(avro_type, list):
        branches = [b for b in avro_type if b != "null"]
        if len(branches) != 1 or len(avro_type) != 2:
            raise UnsupportedType(f'union {avro_type}: only ["null", X] maps to a column')
        return sql_type(branches[0])[0], True
    if isinstance(avro_type, str):
        if avro_type in _PRIMITIVES:
            return _PRIMITIVES[avro_type], False
        raise UnsupportedType(f"type {avro_type!r} (named or unknown) has no column mapping")
    kind, logical = avro_type.get("type"), avro_type.get("logicalType")
    if logical == "decimal":
        return f"numeric({avro_type['precision']},{avro_type.get('scale', 0)})", False
    if logical in ("timestamp-micros", "timestamp-millis"):
        return "timestamp with time zone", False
    if logical in ("local-timestamp-micros", "local-timestamp-millis"):
        raise UnsupportedType(f"{logical}: every timestamp is UTC, use timestamp-micros")
    if logical == "date":
        return "date", False
    if logical in ("time-micros", "time-millis"):
        return "time without time zone", False
    if logical == "uuid":
        return "uuid", False
    if kind == "enum":
        return "text", False
    if kind == "fixed":
        return "bytea", False
    if kind == "map":
        return "jsonb", False
    if kind == "array":
        item, nullable_items = sql_type(avro_type["items"])
        if item.endswith("[]") or item == "jsonb" or nullable_items:
            raise UnsupportedType("arrays map to columns only with non-null primitive items")
        return f"{item}[]", False
    if kind in _PRIMITIVES:
        return _PRIMITIVES[kind], False
    raise UnsupportedType(f"type {kind!r} has no column mapping (flatten nested records)")


def sql_default(avro_type: Any, value: Any) -> str | None:
    """The SQL DEFAULT for an Avro default (which compatibility requires on added fields)."""
    if value is None:
        return None
    if isinstance(avro_type, list):  # a union's default belongs to its first branch
        avro_type = avro_type[0]
    pg_type, _ = sql_type(avro_type)
    if isinstance(value, bool):
        return "true" if value else "false"
    if pg_type.startswith("numeric") and isinstance(value, str):
        # Avro encodes a decimal default as the unscaled big-endian bytes, one char per byte.
        unscaled = int.from_bytes(value.encode("latin-1"), "big", signed=True)
        return str(Decimal(unscaled).scaleb(-int(avro_type.get("scale", 0))))
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return literal(value)
    if isinstance(value, dict) and pg_type == "jsonb":
        return f"{literal(json.dumps(value))}::jsonb"
    if isinstance(value, list) and pg_type.endswith("[]"):
        return "'{}'" if not value else None
    return None


def table_spec(version: SchemaVersion) -> Table:
    columns = []
    for avro_field in version.fields:
        pg_type, nullable = sql_type(avro_field["type"])
        columns.append(
            Column(
                name=avro_field["name"],
                sql_type=pg_type,
                not_null=not nullable,
                comment=str(avro_field.get("doc", "")),
                default=sql_default(avro_field["type"], avro_field.get("default")),
            )
        )
    return Table(version.name, version.doc, columns, version.primary_key, version.indexes)


def expected_tables(catalog: Catalog, database: str) -> list[Table]:
    return [table_spec(entry.latest) for entry in catalog.tables(database)]


# -- rendering -------------------------------------------------------------------------------
def ident(name: str) -> str:
    return (
        name if _PLAIN.match(name) and name not in RESERVED else '"' + name.replace('"', '""') + '"'
    )


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def index_name(table: str, columns: list[str]) -> str:
    name = f"{table}_{'_'.join(columns)}_idx"
    if len(name) <= _MAX_IDENTIFIER:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[: _MAX_IDENTIFIER - 13]}_{digest}_idx"


def column_definition(column: Column) -> str:
    parts = [ident(column.name), _SHORT.get(column.sql_type, column.sql_type)]
    if column.default is not None:
        parts.append(f"DEFAULT {column.default}")
    if column.not_null:
        parts.append("NOT NULL")
    return " ".join(parts)


def create_table(table: Table) -> str:
    width = max(len(ident(c.name)) for c in table.columns)
    lines = []
    for column in table.columns:
        name, _, rest = column_definition(column).partition(" ")
        lines.append(f"    {name.ljust(width)} {rest}")
    if table.primary_key:
        lines.append(f"    PRIMARY KEY ({', '.join(ident(c) for c in table.primary_key)})")
    return f"CREATE TABLE IF NOT EXISTS {ident(table.name)} (\n" + ",\n".join(lines) + "\n);"


def table_extras(table: Table, reader_role: str | None) -> list[str]:
    """Indexes, comments and grant: safe to re-run on an existing table."""
    name = ident(table.name)
    statements = [
        f"CREATE INDEX IF NOT EXISTS {index_name(table.name, cols)} ON {name} "
        f"({', '.join(ident(c) for c in cols)});"
        for cols in table.indexes
    ]
    statements.append(f"COMMENT ON TABLE {name} IS {literal(table.comment)};")
    statements.extend(
        f"COMMENT ON COLUMN {name}.{ident(c.name)} IS {literal(c.comment)};" for c in table.columns
    )
    if reader_role:
        statements.append(f"GRANT SELECT ON {name} TO {ident(reader_role)};")
    return statements


def render(catalog: Catalog, database: str, reader_role: str | None) -> str:
    """The whole DDL script of one database, as `schemas ddl` prints it."""
    chunks = [
        f"-- GlobalMart {database} database: generated from the Avro schemas; do not edit.",
    ]
    for entry in catalog.tables(database):
        table = table_spec(entry.latest)
        chunks.append(
            f"\n-- {table.name} ({entry.latest.path}): {table.comment}\n"
            + create_table(table)
            + "\n"
            + "\n".join(table_extras(table, reader_role))
        )
    return "\n".join(chunks) + "\n"


# -- live databases -----------------------------------------------------------------------------
@dataclass
class ApplyReport:
    database: str
    created: list[str] = field(default_factory=list)
    added_columns: list[str] = field(default_factory=list)
    #: differences left after applying (wrong types, keys...): need a human
    drift: list[str] = field(default_factory=list)


def apply_ddl(settings: Settings, database: str, catalog: Catalog | None = None) -> ApplyReport:
    """Create or extend every table of `database` ('realtime' or 'warehouse') as the writer role."""
    catalog = catalog or load_catalog()
    expected = expected_tables(catalog, database)
    report = ApplyReport(database)
    with psycopg.connect(settings.postgres_dsn(database), connect_timeout=10) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
        reader = settings.postgres_reader_user if _role_exists(conn, settings) else None
        live = _describe(conn, None)
        for table in expected:
            if table.name not in live:
                conn.execute(create_table(table).encode())
                report.created.append(table.name)
            else:
                for column in table.columns:
                    if live[table.name].column(column.name) is None:
                        conn.execute(
                            f"ALTER TABLE {ident(table.name)} ADD COLUMN IF NOT EXISTS "
                            f"{column_definition(column)}".encode()
                        )
                        report.added_columns.append(f"{table.name}.{column.name}")
            for statement in table_extras(table, reader):
                conn.execute(statement.encode())
        report.drift = compare(expected, _describe(conn, reader), extra_columns=False)
    return report


def describe_live(settings: Settings, database: str) -> dict[str, Table]:
    """Every table of the database's public schema as PostgreSQL reports it."""
    with psycopg.connect(settings.postgres_dsn(database), connect_timeout=10) as conn:
        reader = settings.postgres_reader_user if _role_exists(conn, settings) else None
        return _describe(conn, reader)


def _role_exists(conn: psycopg.Connection, settings: Settings) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pg_roles WHERE rolname = %s", (settings.postgres_reader_user,)
    ).fetchone()
    return row is not None


def _describe(conn: psycopg.Connection, reader: str | None) -> dict[str, Table]:
    tables: dict[str, Table] = {}
    # Rows typed Any: psycopg's generic row types defeat older mypy versions.
    rows: Any = conn.execute(
        """
        SELECT c.relname, obj_description(c.oid, 'pg_class'), a.attname,
               format_type(a.atttypid, a.atttypmod), a.attnotnull, col_description(c.oid, a.attnum),
               pg_get_expr(d.adbin, d.adrelid)
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
        ORDER BY c.relname, a.attnum
        """
    ).fetchall()
    for relname, table_comment, name, pg_type, not_null, comment, default in rows:
        table = tables.setdefault(relname, Table(relname, table_comment or "", [], []))
        table.columns.append(Column(name, pg_type, bool(not_null), comment or "", default))
    index_rows: Any = conn.execute(
        """
        SELECT t.relname, i.indisprimary,
               ARRAY(SELECT a.attname::text
                     FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                     JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
                     ORDER BY k.ord)
        FROM pg_index i
        JOIN pg_class t ON t.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE n.nspname = 'public'
        ORDER BY t.relname, i.indexrelid
        """
    ).fetchall()
    for relname, primary, columns in index_rows:
        if relname not in tables:
            continue
        if primary:
            tables[relname].primary_key = list(columns)
        else:
            tables[relname].indexes.append(list(columns))
    if reader is not None:
        grants: Any = conn.execute(
            """
            SELECT c.relname, has_table_privilege(%s, c.oid, 'SELECT')
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
            """,
            (reader,),
        ).fetchall()
        for relname, allowed in grants:
            if relname in tables:
                tables[relname].reader_can_select = bool(allowed)
    return tables


def compare(
    expected: list[Table], live: dict[str, Table], *, extra_columns: bool = True
) -> list[str]:
    """Differences between the schemas and a live database, one line each (empty: identical).

    Columns are compared by name, type, nullability and comment; then the primary key (in order),
    the declared indexes and the reader's SELECT grant. `extra_columns` also reports live columns
    the schema does not have (left behind by a removed field: applying never drops anything).
    """
    problems: list[str] = []
    for table in expected:
        actual = live.get(table.name)
        if actual is None:
            problems.append(f"{table.name}: table missing")
            continue
        for column in table.columns:
            found = actual.column(column.name)
            where = f"{table.name}.{column.name}"
            if found is None:
                problems.append(f"{where}: column missing")
                continue
            if found.sql_type != column.sql_type:
                problems.append(f"{where}: type {found.sql_type}, schema says {column.sql_type}")
            if found.not_null != column.not_null:
                want = "NOT NULL" if column.not_null else "nullable"
                problems.append(f"{where}: should be {want}")
            if found.comment != column.comment:
                problems.append(f"{where}: comment differs from the field's doc")
        if extra_columns:
            known = {c.name for c in table.columns}
            problems.extend(
                f"{table.name}.{c.name}: column not in the schema"
                for c in actual.columns
                if c.name not in known
            )
        if actual.primary_key != table.primary_key:
            problems.append(
                f"{table.name}: primary key ({', '.join(actual.primary_key)}), "
                f"schema says ({', '.join(table.primary_key)})"
            )
        for cols in table.indexes:
            if cols not in actual.indexes:
                problems.append(f"{table.name}: index ({', '.join(cols)}) missing")
        if actual.comment != table.comment:
            problems.append(f"{table.name}: table comment differs from the record's doc")
        if actual.reader_can_select is False:
            problems.append(f"{table.name}: the reader role cannot SELECT")
    return problems
