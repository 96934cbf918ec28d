"""The real-time sink tables as the stream jobs see them, derived from the Avro schemas.

One source of truth: column names, Spark types, natural keys and the upsert statements all come
from `globalmart.schemas.catalog`; no column list is written by hand here or in the jobs. Every
job builds one struct column per table it writes; `check_struct` compares that struct with the
table's schema (names, order and types) before the query starts and again before each write.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pyspark.sql import types as T

from globalmart.schemas.catalog import SchemaVersion, load_catalog

#: processing-time columns; excluded from the oracle comparison, set when a batch writes
PROCESSING_TIME_COLUMNS = frozenset(
    {"created_at", "updated_at", "detected_at", "alert_generated_at", "failed_at", "committed_at"}
)
WINDOW, EVENT, SUPPORT = "window", "event", "support"
LEDGER = "stream_batch_ledger"
DEAD_LETTERS = "dead_letters"
ALERTS = "alerts"


class SinkSchemaMismatch(ValueError):
    """A job's output does not match its sink table's Avro schema."""


def spark_type(avro_type: Any) -> tuple[T.DataType, bool]:
    """(Spark type, nullable) for an Avro field type of a sink schema."""
    if isinstance(avro_type, list):
        branches = [b for b in avro_type if b != "null"]
        if len(branches) != 1:
            raise SinkSchemaMismatch(f"union {avro_type}: only [null, X] is supported")
        return spark_type(branches[0])[0], True
    if isinstance(avro_type, str):
        simple = {
            "string": T.StringType(),
            "int": T.IntegerType(),
            "long": T.LongType(),
            "double": T.DoubleType(),
            "float": T.FloatType(),
            "boolean": T.BooleanType(),
            "bytes": T.BinaryType(),
        }
        if avro_type not in simple:
            raise SinkSchemaMismatch(f"Avro type {avro_type!r} has no Spark mapping here")
        return simple[avro_type], False
    logical = avro_type.get("logicalType")
    kind = avro_type.get("type")
    if logical == "decimal":
        return T.DecimalType(avro_type["precision"], avro_type.get("scale", 0)), False
    if logical in ("timestamp-micros", "timestamp-millis"):
        return T.TimestampType(), False
    if kind == "enum":
        return T.StringType(), False
    if kind == "map":
        return T.MapType(T.StringType(), spark_type(avro_type["values"])[0]), False
    if kind == "array":
        return T.ArrayType(spark_type(avro_type["items"])[0]), False
    if isinstance(kind, str):
        return spark_type(kind)
    raise SinkSchemaMismatch(f"Avro type {avro_type!r} has no Spark mapping here")


@dataclass(frozen=True)
class Sink:
    """One real-time table: its schema version and what the writer needs to know about it."""

    version: SchemaVersion

    @property
    def name(self) -> str:
        return self.version.name

    @property
    def columns(self) -> list[str]:
        return [f["name"] for f in self.version.fields]

    @property
    def primary_key(self) -> list[str]:
        return self.version.primary_key

    @property
    def table_type(self) -> str:
        return self.version.table_type or SUPPORT

    @property
    def is_window(self) -> bool:
        return self.table_type == WINDOW

    @property
    def struct(self) -> T.StructType:
        fields = []
        for field in self.version.fields:
            data_type, nullable = spark_type(field["type"])
            fields.append(T.StructField(field["name"], data_type, nullable))
        return T.StructType(fields)

    @property
    def json_columns(self) -> frozenset[str]:
        """map-typed fields, stored as jsonb."""
        return frozenset(
            f["name"]
            for f in self.version.fields
            if isinstance(f["type"], dict) and f["type"].get("type") == "map"
        )

    def upsert_sql(self, schema: str) -> str:
        """The idempotent write: windows update until final, everything else is insert-once."""
        cols = self.columns
        target = f"{_ident(schema)}.{_ident(self.name)}"
        placeholders = ", ".join("%s::jsonb" if c in self.json_columns else "%s" for c in cols)
        head = (
            f"INSERT INTO {target} AS t ({', '.join(_ident(c) for c in cols)}) "
            f"VALUES ({placeholders}) "
            f"ON CONFLICT ({', '.join(_ident(c) for c in self.primary_key)}) DO "
        )
        if not self.is_window:
            # Append-only tables: the first write wins; a replayed or duplicate row is ignored.
            return head + "NOTHING"
        keep = set(self.primary_key) | {"created_at", "is_final"}
        updates = ", ".join(f"{_ident(c)} = EXCLUDED.{_ident(c)}" for c in cols if c not in keep)
        # A final row never changes again, whatever a late replay sends.
        return head + f"UPDATE SET {updates} WHERE NOT t.is_final"

    def finalize_sql(self, schema: str) -> str:
        """Mark every window the watermark has passed as final (Spark evicted its state)."""
        target = f"{_ident(schema)}.{_ident(self.name)}"
        return (
            f"UPDATE {target} SET is_final = true, updated_at = %s "
            f"WHERE window_end <= %s AND NOT is_final"
        )

    def key_of(self, row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(row[c] for c in self.primary_key)


@lru_cache(maxsize=None)
def sink(name: str) -> Sink:
    entry = load_catalog().entry(name)
    if entry.kind != "realtime":
        raise KeyError(f"{name!r} is not a real-time table")
    return Sink(entry.latest)


def realtime_tables() -> list[str]:
    return [e.name for e in load_catalog().tables("realtime")]


def check_struct(table: str, actual: T.DataType) -> None:
    """Fail when `actual` (a job's struct column) differs from the table schema in names or types.

    Nullability is not compared: Spark marks most aggregates nullable; NOT NULL is enforced by the
    table itself (and a null in a NOT NULL column fails the batch's transaction as a whole).
    """
    expected = sink(table).struct
    if not isinstance(actual, T.StructType):
        raise SinkSchemaMismatch(f"{table}: expected a struct, got {actual.simpleString()}")
    want = [(f.name, f.dataType.simpleString()) for f in expected.fields]
    got = [(f.name, f.dataType.simpleString()) for f in actual.fields]
    if want != got:
        missing = [n for n, _ in want if n not in dict(got)]
        extra = [n for n, _ in got if n not in dict(want)]
        wrong = [
            f"{n}: {t} (schema says {dict(want)[n]})"
            for n, t in got
            if n in dict(want) and dict(want)[n] != t
        ]
        order = [n for n, _ in got] != [n for n, _ in want] and not (missing or extra)
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if extra:
            parts.append(f"not in the schema {', '.join(extra)}")
        if wrong:
            parts.append("wrong types " + "; ".join(wrong))
        if order:
            parts.append("columns out of order")
        raise SinkSchemaMismatch(
            f"{table}: output does not match its sink schema: " + ", ".join(parts)
        )


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
