from __future__ import annotations

import json
from pathlib import Path

import pytest

from globalmart.schemas.catalog import Catalog, canonical_json, load_catalog
from globalmart.schemas.testing import SchemaTree, sample_event, sample_table

#: the spec's 18 real-time tables, named exactly as in the original README
SPEC_TABLES = {
    "sales_per_minute", "sales_by_country",
    "cart_sessions", "abandoned_carts", "cart_metrics",
    "trending_products", "category_performance", "search_behavior", "browsing_sessions",
    "high_value_anomalies", "high_quantity_anomalies", "suspicious_patterns", "anomaly_stats",
    "product_sales_velocity", "inventory_by_country", "high_demand_alerts", "restock_alerts",
    "inventory_metrics",
}  # fmt: skip
SUPPORT_TABLES = {"dead_letters", "stream_batch_ledger", "alerts"}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_every_spec_table_and_support_table_is_a_realtime_schema(catalog: Catalog) -> None:
    assert {e.name for e in catalog.tables("realtime")} == SPEC_TABLES | SUPPORT_TABLES


def test_events_use_topic_name_strategy(catalog: Catalog) -> None:
    subjects = {s: e.name for s, e in catalog.subjects() if e.kind == "events"}
    assert subjects == {
        "transactions-topic-value": "transaction",
        "cart-events-topic-value": "cart_event",
        "product-views-topic-value": "product_view",
    }
    assert catalog.event_topics == [
        "cart-events-topic",
        "product-views-topic",
        "transactions-topic",
    ]


def test_one_dead_letter_record_serves_every_dlq_topic(catalog: Catalog) -> None:
    assert catalog.entry("dead_letter").subjects == [
        "cart-events-topic-dlq-value",
        "product-views-topic-dlq-value",
        "transactions-topic-dlq-value",
    ]


def test_groups_per_kind(catalog: Catalog) -> None:
    assert catalog.entry("transaction").group == "default"  # ccompat
    assert catalog.entry("sales_per_minute").group == "globalmart.realtime"
    assert catalog.entry("dim_customer").group == "globalmart.warehouse"
    assert catalog.entry("user").group == "globalmart.reference"


def test_warehouse_has_a_star_schema(catalog: Catalog) -> None:
    names = {e.name for e in catalog.tables("warehouse")}
    assert {"dim_date", "dim_time", "dim_customer", "dim_product", "dim_category"} <= names
    assert {"dim_geography", "fact_sales", "rfm_segments", "product_performance"} <= names
    for dimension in ("dim_customer", "dim_product", "dim_category"):
        latest = catalog.entry(dimension).latest
        assert {"valid_from", "valid_to", "is_current"} <= {f["name"] for f in latest.fields}


def test_record_name_is_the_table_name(catalog: Catalog) -> None:
    for entry in catalog:
        assert entry.latest.data["name"] == entry.name


def test_lookup_by_subject_name_or_group_path(catalog: Catalog) -> None:
    assert catalog.by_subject("transactions-topic-value").name == "transaction"
    assert catalog.by_subject("transaction").name == "transaction"
    assert catalog.by_subject("globalmart.realtime/alerts").name == "alerts"
    with pytest.raises(KeyError):
        catalog.by_subject("nope")


def test_fingerprint_ignores_layout_but_not_content(tmp_path: Path) -> None:
    data = sample_event()
    assert canonical_json(data) == canonical_json(json.loads(json.dumps(data, indent=4)))
    tree = SchemaTree(tmp_path)
    tree.write(data, 1)
    first = tree.catalog().entry("order").latest.fingerprint
    data["doc"] = "Changed."
    tree.write(data, 1)
    assert tree.catalog().entry("order").latest.fingerprint != first


def test_layout_problems_are_collected_not_raised(tmp_path: Path) -> None:
    tree = SchemaTree(tmp_path)
    tree.write(sample_table(), 1)
    (tree.avro / "realtime" / "orders_per_minute" / "draft.avsc").write_text("{}")
    (tree.avro / "realtime" / "broken").mkdir()
    (tree.avro / "realtime" / "broken" / "v1.avsc").write_text("{not json")
    (tree.avro / "misc").mkdir()
    catalog = tree.catalog()
    assert "orders_per_minute" in catalog.entries
    rules = sorted(p.rule for p in catalog.problems)
    assert rules == ["layout", "layout", "layout", "syntax"]


def test_same_name_in_two_kinds_is_refused(tmp_path: Path) -> None:
    tree = SchemaTree(tmp_path)
    tree.write(sample_table(), 1)
    tree.write(sample_table(), 1, kind="warehouse")
    problems = tree.catalog().problems
    assert any("one name per concept" in p.message for p in problems)
