from __future__ import annotations

import pytest

from globalmart.schemas.catalog import load_catalog
from globalmart.schemas.ddl import (
    Column,
    Table,
    UnsupportedType,
    compare,
    create_table,
    expected_tables,
    index_name,
    render,
    sql_default,
    sql_type,
    table_extras,
)

DECIMAL = {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}


@pytest.mark.parametrize(
    "avro_type, expected",
    [
        ("string", ("text", False)),
        ("long", ("bigint", False)),
        ("int", ("integer", False)),
        ("double", ("double precision", False)),
        ("boolean", ("boolean", False)),
        ("bytes", ("bytea", False)),
        (DECIMAL, ("numeric(12,2)", False)),
        ({"type": "long", "logicalType": "timestamp-micros"}, ("timestamp with time zone", False)),
        ({"type": "int", "logicalType": "date"}, ("date", False)),
        (["null", "string"], ("text", True)),
        (["null", DECIMAL], ("numeric(12,2)", True)),
        ({"type": "enum", "name": "e", "symbols": ["a"]}, ("text", False)),
        ({"type": "map", "values": "string"}, ("jsonb", False)),
        ({"type": "array", "items": "string"}, ("text[]", False)),
    ],
)
def test_type_mapping(avro_type: object, expected: tuple[str, bool]) -> None:
    assert sql_type(avro_type) == expected


@pytest.mark.parametrize(
    "avro_type",
    [
        ["null", "string", "long"],
        {"type": "record", "name": "r", "fields": []},
        {"type": "long", "logicalType": "local-timestamp-micros"},
        {"type": "array", "items": {"type": "map", "values": "string"}},
    ],
)
def test_unmappable_types_are_refused(avro_type: object) -> None:
    with pytest.raises(UnsupportedType):
        sql_type(avro_type)


def test_defaults_become_sql_defaults() -> None:
    assert sql_default("long", 0) == "0"
    assert sql_default("boolean", False) == "false"
    assert sql_default("string", "it's") == "'it''s'"
    assert sql_default(["null", "string"], None) is None
    assert sql_default({"type": "map", "values": "string"}, {}) == "'{}'::jsonb"
    # Avro spells a decimal default as the unscaled two's-complement bytes: 1234 -> 12.34
    assert sql_default(DECIMAL, "\u0004\u00d2") == "12.34"


def test_create_table_has_types_not_null_and_key() -> None:
    table = Table(
        "t",
        "A table.",
        [
            Column("window_start", "timestamp with time zone", True, "Start."),
            Column("note", "text", False, "It's a note."),
        ],
        ["window_start"],
        [["note"]],
    )
    ddl = create_table(table)
    assert ddl.startswith("CREATE TABLE IF NOT EXISTS t (")
    assert "window_start timestamptz NOT NULL" in ddl
    assert "note         text\n" in ddl or "note         text," in ddl
    assert "PRIMARY KEY (window_start)" in ddl
    extras = table_extras(table, "globalmart_reader")
    assert "CREATE INDEX IF NOT EXISTS t_note_idx ON t (note);" in extras
    assert "COMMENT ON COLUMN t.note IS 'It''s a note.';" in extras
    assert extras[-1] == "GRANT SELECT ON t TO globalmart_reader;"


def test_long_index_names_stay_within_postgres_limit() -> None:
    name = index_name("fact_daily_product_snapshot", ["product_key", "country", "date_key", "x"])
    assert len(name) <= 63 and name.endswith("_idx")


def test_the_spec_example_queries_have_their_columns() -> None:
    tables = {t.name: t for t in expected_tables(load_catalog(), "realtime")}
    for table, columns in {
        "sales_per_minute": ["window_start", "window_end", "created_at"],
        "high_value_anomalies": ["detected_at"],
        "high_demand_alerts": ["alert_generated_at"],
    }.items():
        for column in columns:
            found = tables[table].column(column)
            assert found is not None and found.sql_type == "timestamp with time zone"
    assert tables["sales_per_minute"].primary_key == ["window_start", "window_end"]
    assert tables["trending_products"].primary_key == ["window_start", "window_end", "product_id"]


def test_money_is_numeric_everywhere() -> None:
    catalog = load_catalog()
    for database in ("realtime", "warehouse"):
        for table in expected_tables(catalog, database):
            for column in table.columns:
                if column.name.endswith(("amount", "price", "revenue", "_value", "monetary")):
                    assert column.sql_type.startswith("numeric"), f"{table.name}.{column.name}"


def test_render_covers_every_table_and_grants_the_reader() -> None:
    catalog = load_catalog()
    script = render(catalog, "warehouse", "reader_role")
    for entry in catalog.tables("warehouse"):
        assert f"CREATE TABLE IF NOT EXISTS {entry.name} (" in script
        assert f"GRANT SELECT ON {entry.name} TO reader_role;" in script


def test_compare_reports_each_kind_of_drift() -> None:
    expected = [
        Table(
            "t",
            "T.",
            [Column("a", "bigint", True, "A."), Column("b", "text", False, "B.")],
            ["a"],
            [["b"]],
        )
    ]
    live = {
        "t": Table(
            "t",
            "T.",
            [Column("a", "integer", False, "A."), Column("c", "text", False, "")],
            [],
            [],
            reader_can_select=False,
        )
    }
    problems = compare(expected, live)
    assert "t.a: type integer, schema says bigint" in problems
    assert "t.a: should be NOT NULL" in problems
    assert "t.b: column missing" in problems
    assert "t.c: column not in the schema" in problems
    assert "t: primary key (), schema says (a)" in problems
    assert "t: index (b) missing" in problems
    assert "t: the reader role cannot SELECT" in problems
    assert compare(expected, {}) == ["t: table missing"]
