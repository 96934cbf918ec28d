from __future__ import annotations

import pytest

from globalmart.gateway.tables import (
    DECIMAL,
    ENUM,
    INT,
    TIMESTAMP,
    UnsupportedColumn,
    column_spec,
    pick_time_column,
    table_specs,
)
from globalmart.schemas.catalog import load_catalog


def test_every_realtime_table_and_the_warehouse_analytics_are_served() -> None:
    catalog = load_catalog()
    specs = table_specs()
    realtime = {e.name for e in catalog.tables("realtime")}
    assert realtime <= set(specs)
    assert len(realtime) >= 18
    assert {"rfm_segments", "product_performance", "sales_trends"} <= set(specs)
    # Dimensions and facts stay behind the BI tools.
    assert "dim_product" not in specs and "fact_sales" not in specs


def test_columns_and_keys_come_from_the_latest_schema_version() -> None:
    catalog = load_catalog()
    for name, spec in table_specs().items():
        latest = catalog.entry(name).latest
        assert spec.column_names == tuple(f["name"] for f in latest.fields)
        assert spec.primary_key == tuple(latest.primary_key)
        assert spec.schema_version == latest.version
        for field in latest.fields:
            nullable = isinstance(field["type"], list) and "null" in field["type"]
            assert spec.column(field["name"]).nullable == nullable


def test_time_column_rule() -> None:
    specs = table_specs()
    assert specs["sales_per_minute"].time_column == "window_start"
    assert specs["abandoned_carts"].time_column == "abandoned_at"  # in the natural key
    assert specs["alerts"].time_column == "alert_generated_at"  # indexed
    assert specs["dead_letters"].time_column == "failed_at"
    assert specs["rfm_segments"].time_column == "as_of_date"
    assert specs["sales_trends"].time_column == "sales_date"


def test_filters_are_the_dimension_columns_and_enums_a_table_has() -> None:
    specs = table_specs()
    assert specs["sales_per_minute"].filters == ()
    assert specs["sales_by_country"].filters == ("country",)
    assert set(specs["category_performance"].filters) == {"category_id", "country"}
    assert set(specs["inventory_by_country"].filters) == {"product_id", "country"}
    assert set(specs["alerts"].filters) == {"severity", "country"}
    assert set(specs["suspicious_patterns"].filters) == {"user_id", "country", "pattern"}


def test_ops_tables_need_a_key_and_nullable_columns_are_not_sortable() -> None:
    specs = table_specs()
    assert specs["dead_letters"].access == "ops"
    assert specs["stream_batch_ledger"].access == "ops"
    assert specs["alerts"].access == "public"
    assert "entity_id" not in specs["alerts"].sortable  # ["null", "string"]
    assert "details" not in specs["alerts"].sortable  # a map


def test_order_columns_end_with_the_natural_key() -> None:
    spec = table_specs()["sales_by_country"]
    assert spec.order_columns("window_start") == ("window_start", "window_end", "country")
    assert spec.order_columns("total_revenue") == (
        "total_revenue",
        "window_start",
        "window_end",
        "country",
    )


def test_column_kinds() -> None:
    assert column_spec({"name": "a", "type": "long"}).kind == INT
    assert column_spec({"name": "a", "type": "long"}).wide
    assert not column_spec({"name": "a", "type": "int"}).wide
    ts = column_spec(
        {"name": "t", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}]}
    )
    assert ts.kind == TIMESTAMP and ts.nullable
    dec = column_spec(
        {
            "name": "d",
            "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2},
        }
    )
    assert (dec.kind, dec.precision, dec.scale) == (DECIMAL, 12, 2)
    enum = column_spec({"name": "e", "type": {"type": "enum", "name": "x", "symbols": ["a", "b"]}})
    assert enum.kind == ENUM and enum.symbols == ("a", "b") and enum.enum_name == "x"
    with pytest.raises(UnsupportedColumn):
        column_spec({"name": "r", "type": {"type": "record", "name": "r", "fields": []}})
    with pytest.raises(UnsupportedColumn):
        column_spec({"name": "u", "type": ["null", "string", "long"]})


def test_a_table_without_a_time_column_is_refused() -> None:
    columns = (column_spec({"name": "a", "type": "string"}),)
    with pytest.raises(UnsupportedColumn):
        pick_time_column(columns, ("a",), [])
