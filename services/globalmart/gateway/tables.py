"""What the gateway serves, derived from the sink schemas (the one source of truth).

Every real-time table and every warehouse aggregate becomes a `TableSpec`: its columns and their
kinds come from the latest Avro version, the natural key from `primary_key`, and the rules below
pick the time column, the filters and the sortable columns. REST routes, response models, SQL and
GraphQL types are all built from these specs; no column list is written by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from globalmart.schemas.catalog import Catalog, SchemaEntry, load_catalog

#: dimension columns that become equality filters wherever a table has them (one name per concept)
FILTER_COLUMNS: tuple[str, ...] = ("country", "category_id", "product_id", "user_id")
#: real-time tables for operators only (API key with the `ops` role)
OPS_TABLES: frozenset[str] = frozenset({"dead_letters", "stream_batch_ledger"})
#: warehouse tables served (the analytics; dimensions and facts stay behind the BI tools)
WAREHOUSE_TABLE_TYPES: frozenset[str] = frozenset({"aggregate"})

#: column kinds, from the Avro type
TIMESTAMP, DATE, DECIMAL, INT, FLOAT, BOOL, TEXT, ENUM, BYTES, JSON, TEXT_ARRAY = (
    "timestamp",
    "date",
    "decimal",
    "int",
    "float",
    "bool",
    "text",
    "enum",
    "bytes",
    "json",
    "text[]",
)
_ORDERABLE = frozenset({TIMESTAMP, DATE, DECIMAL, INT, FLOAT, BOOL, TEXT, ENUM})
_PRIMITIVE_KINDS = {
    "boolean": BOOL,
    "int": INT,
    "long": INT,
    "float": FLOAT,
    "double": FLOAT,
    "string": TEXT,
    "bytes": BYTES,
}


class UnsupportedColumn(ValueError):
    """An Avro type the gateway cannot serve (the DDL generator refuses the same ones)."""


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: str
    nullable: bool
    doc: str
    #: enum symbols (kind ENUM), in schema order
    symbols: tuple[str, ...] = ()
    #: the Avro enum's name (kind ENUM): the GraphQL enum type's name
    enum_name: str = ""
    #: decimal precision and scale (kind DECIMAL)
    precision: int = 0
    scale: int = 0
    #: an Avro long (kind INT): 64 bits, beyond GraphQL's 32-bit Int
    wide: bool = False


@dataclass(frozen=True)
class TableSpec:
    name: str
    #: `realtime` or `warehouse`
    database: str
    doc: str
    columns: tuple[ColumnSpec, ...]
    primary_key: tuple[str, ...]
    #: the column `from`/`to` filter on and the default sort uses (newest first)
    time_column: str
    #: equality filters (dimension columns and enums), in column order
    filters: tuple[str, ...]
    #: columns a client may sort on (non-null and ordered)
    sortable: tuple[str, ...]
    #: `public` or `ops`
    access: str
    table_type: str
    schema_version: int

    def column(self, name: str) -> ColumnSpec:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def default_sort(self) -> str:
        return f"-{self.time_column}"

    @property
    def sort_options(self) -> tuple[str, ...]:
        """Accepted `sort` values: a sortable column, `-` prefixed for descending."""
        return tuple(v for c in self.sortable for v in (c, f"-{c}"))

    def order_columns(self, sort_column: str) -> tuple[str, ...]:
        """The keyset: the sort column, then the natural key as tie-breaker (a total order)."""
        return (sort_column, *(c for c in self.primary_key if c != sort_column))


def column_spec(avro_field: dict[str, Any]) -> ColumnSpec:
    avro_type = avro_field["type"]
    nullable = False
    if isinstance(avro_type, list):
        branches = [b for b in avro_type if b != "null"]
        if len(branches) != 1 or len(avro_type) != 2:
            raise UnsupportedColumn(f"{avro_field['name']}: only [\"null\", X] unions are served")
        avro_type, nullable = branches[0], True
    name, doc = avro_field["name"], str(avro_field.get("doc", ""))
    if isinstance(avro_type, str):
        if avro_type not in _PRIMITIVE_KINDS:
            raise UnsupportedColumn(f"{name}: type {avro_type!r}")
        return ColumnSpec(
            name, _PRIMITIVE_KINDS[avro_type], nullable, doc, wide=avro_type == "long"
        )
    logical, base = avro_type.get("logicalType"), avro_type.get("type")
    if logical in ("timestamp-micros", "timestamp-millis"):
        return ColumnSpec(name, TIMESTAMP, nullable, doc)
    if logical == "date":
        return ColumnSpec(name, DATE, nullable, doc)
    if logical == "decimal":
        return ColumnSpec(
            name,
            DECIMAL,
            nullable,
            doc,
            precision=int(avro_type["precision"]),
            scale=int(avro_type.get("scale", 0)),
        )
    if base == "enum":
        symbols = tuple(str(s) for s in avro_type["symbols"])
        return ColumnSpec(name, ENUM, nullable, doc, symbols, str(avro_type["name"]))
    if base == "map":
        return ColumnSpec(name, JSON, nullable, doc)
    if base == "array" and avro_type.get("items") == "string":
        return ColumnSpec(name, TEXT_ARRAY, nullable, doc)
    if base in _PRIMITIVE_KINDS and logical is None:
        return ColumnSpec(name, _PRIMITIVE_KINDS[base], nullable, doc, wide=base == "long")
    raise UnsupportedColumn(f"{name}: type {avro_type!r}")


def pick_time_column(
    columns: tuple[ColumnSpec, ...], primary_key: tuple[str, ...], indexes: list[list[str]]
) -> str:
    """`window_start` for windowed tables; else the first time column of the natural key; else
    the first indexed time column; else the first time column at all."""
    timed = {c.name for c in columns if c.kind in (TIMESTAMP, DATE) and not c.nullable}
    if "window_start" in timed:
        return "window_start"
    candidates = [
        *[c for c in primary_key if c in timed],
        *[cols[0] for cols in indexes if len(cols) == 1 and cols[0] in timed],
        *[c.name for c in columns if c.name in timed],
    ]
    if not candidates:
        raise UnsupportedColumn("no non-null timestamp or date column to filter and sort on")
    return candidates[0]


def table_spec(entry: SchemaEntry) -> TableSpec:
    latest = entry.latest
    columns = tuple(column_spec(f) for f in latest.fields)
    primary_key = tuple(latest.primary_key)
    time_column = pick_time_column(columns, primary_key, latest.indexes)
    filters = tuple(c.name for c in columns if c.name in FILTER_COLUMNS or (c.kind == ENUM))
    sortable = tuple(c.name for c in columns if c.kind in _ORDERABLE and not c.nullable)
    assert entry.database is not None
    return TableSpec(
        name=entry.name,
        database=entry.database,
        doc=latest.doc,
        columns=columns,
        primary_key=primary_key,
        time_column=time_column,
        filters=filters,
        sortable=sortable,
        access="ops" if entry.name in OPS_TABLES else "public",
        table_type=latest.table_type or "",
        schema_version=latest.version,
    )


def served_entries(catalog: Catalog) -> list[SchemaEntry]:
    realtime = catalog.tables("realtime")
    warehouse = [
        e for e in catalog.tables("warehouse") if e.latest.table_type in WAREHOUSE_TABLE_TYPES
    ]
    return [*realtime, *warehouse]


def build_specs(catalog: Catalog) -> dict[str, TableSpec]:
    return {entry.name: table_spec(entry) for entry in served_entries(catalog)}


@lru_cache(maxsize=1)
def table_specs() -> dict[str, TableSpec]:
    """Every served table by name, from the packaged schemas (read once)."""
    return build_specs(load_catalog())
