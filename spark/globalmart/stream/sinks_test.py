from __future__ import annotations

import pytest
from pyspark.sql import types as T

from globalmart.schemas.catalog import load_catalog
from globalmart.stream.sinks import (
    SinkSchemaMismatch,
    check_struct,
    realtime_tables,
    sink,
    spark_type,
)


def test_avro_types_map_to_spark_types() -> None:
    assert spark_type({"type": "bytes", "logicalType": "decimal", "precision": 16, "scale": 2}) == (
        T.DecimalType(16, 2),
        False,
    )
    assert spark_type({"type": "long", "logicalType": "timestamp-micros"}) == (
        T.TimestampType(),
        False,
    )
    assert spark_type(["null", "string"]) == (T.StringType(), True)
    assert spark_type({"type": "map", "values": "string"})[0] == T.MapType(
        T.StringType(), T.StringType()
    )
    assert spark_type({"type": "enum", "name": "x", "symbols": ["a"]})[0] == T.StringType()
    with pytest.raises(SinkSchemaMismatch):
        spark_type(["null", "string", "int"])


def test_the_21_realtime_tables_come_from_the_catalog() -> None:
    names = realtime_tables()
    assert len(names) == 21
    assert {"dead_letters", "stream_batch_ledger", "alerts"} <= set(names)
    assert sink("sales_per_minute").columns == [
        f["name"] for f in load_catalog().entry("sales_per_minute").latest.fields
    ]


def test_window_upsert_never_touches_final_rows_or_created_at() -> None:
    sql = sink("sales_by_country").upsert_sql("scratch")
    assert sql.startswith('INSERT INTO "scratch"."sales_by_country" AS t')
    assert 'ON CONFLICT ("window_start", "window_end", "country") DO UPDATE SET' in sql
    assert sql.endswith("WHERE NOT t.is_final")
    assert '"created_at" = EXCLUDED' not in sql and '"is_final" = EXCLUDED' not in sql
    assert '"updated_at" = EXCLUDED."updated_at"' in sql


def test_event_tables_are_insert_once_and_maps_are_jsonb() -> None:
    assert sink("high_value_anomalies").upsert_sql("public").endswith("DO NOTHING")
    alerts = sink("alerts").upsert_sql("public")
    assert alerts.endswith("DO NOTHING") and "%s::jsonb" in alerts


def test_check_struct_names_what_differs() -> None:
    good = sink("anomaly_stats").struct
    check_struct("anomaly_stats", good)
    missing = T.StructType(good.fields[:-1])
    with pytest.raises(SinkSchemaMismatch, match="missing updated_at"):
        check_struct("anomaly_stats", missing)
    wrong = T.StructType(
        [
            T.StructField(f.name, T.IntegerType() if f.name == "transaction_count" else f.dataType)
            for f in good.fields
        ]
    )
    with pytest.raises(SinkSchemaMismatch, match="transaction_count: int"):
        check_struct("anomaly_stats", wrong)
    extra = T.StructType([*good.fields, T.StructField("bonus", T.StringType())])
    with pytest.raises(SinkSchemaMismatch, match="not in the schema bonus"):
        check_struct("anomaly_stats", extra)
    swapped = T.StructType([good.fields[1], good.fields[0], *good.fields[2:]])
    with pytest.raises(SinkSchemaMismatch, match="out of order"):
        check_struct("anomaly_stats", swapped)
