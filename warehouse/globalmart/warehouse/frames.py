"""Spark-side shapes derived from the Avro schemas: the archive's event schema and each warehouse
table's column types, so DataFrames are conformed to the catalog rather than to a hand list."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.avro.functions import from_avro

from globalmart.schemas.catalog import load_catalog
from globalmart.schemas.registry import registry_text
from globalmart.warehouse.archive import PROVENANCE
from globalmart.warehouse.layout import PARTITION

#: start of every member's first dimension version ("valid since always"): facts of any time find
#: a version, and the first version's key does not depend on when the catalog was first seen.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_PRIMITIVE: dict[str, T.DataType] = {
    "boolean": T.BooleanType(),
    "int": T.IntegerType(),
    "long": T.LongType(),
    "float": T.FloatType(),
    "double": T.DoubleType(),
    "string": T.StringType(),
    "bytes": T.BinaryType(),
}


def spark_type(avro_type: Any) -> tuple[T.DataType, bool]:
    """(Spark type, nullable) of a column's Avro type (the same mapping as the DDL's)."""
    if isinstance(avro_type, list):
        branches = [b for b in avro_type if b != "null"]
        inner, _ = spark_type(branches[0])
        return inner, True
    if isinstance(avro_type, str):
        return _PRIMITIVE[avro_type], False
    logical = avro_type.get("logicalType")
    if logical == "decimal":
        return T.DecimalType(avro_type["precision"], avro_type.get("scale", 0)), False
    if logical in ("timestamp-micros", "timestamp-millis"):
        return T.TimestampType(), False
    if logical == "date":
        return T.DateType(), False
    if avro_type.get("type") == "enum":
        return T.StringType(), False
    return spark_type(avro_type["type"])


def table_schema(table: str) -> T.StructType:
    fields = load_catalog().entry(table).latest.fields
    return T.StructType(
        [T.StructField(f["name"], *spark_type(f["type"])) for f in fields]  # type: ignore[misc]
    )


def conform(df: DataFrame, table: str) -> DataFrame:
    """Exactly the table's columns, in order, cast to its types."""
    return df.select(
        *[F.col(f.name).cast(f.dataType).alias(f.name) for f in table_schema(table).fields]
    )


def to_arrow(df: DataFrame, table: str) -> pa.Table:
    return conform(df, table).toArrow()


def archive_schema(spark: SparkSession, event_type: str) -> T.StructType:
    """The Parquet schema the archive writes for an event type (what from_avro yields)."""
    reader = registry_text(load_catalog().entry(event_type).latest)
    decoded = spark.range(0).select(from_avro(F.lit(b""), reader).alias("e")).schema
    event = decoded["e"].dataType
    assert isinstance(event, T.StructType)
    extra = [
        T.StructField("kafka_partition", T.IntegerType()),
        T.StructField("kafka_offset", T.LongType()),
        T.StructField("schema_id", T.LongType()),
        T.StructField(PARTITION, T.DateType()),
    ]
    assert [f.name for f in extra[:3]] == list(PROVENANCE)
    return T.StructType(list(event.fields) + extra)


def date_key(ts: Column) -> Column:
    return F.date_format(ts, "yyyyMMdd").cast("int")


def time_key(ts: Column) -> Column:
    return (F.hour(ts) * 100 + F.minute(ts)).cast("int")


def schema_json(table: str) -> str:
    return json.dumps(load_catalog().entry(table).latest.data)
