"""The five jobs as declared: names, watermarks, tables, documentation."""

from __future__ import annotations

from globalmart.schemas.catalog import load_catalog
from globalmart.stream.registry_jobs import all_jobs, select
from globalmart.stream.sinks import sink

SPEC_TABLES = {
    "sales_aggregator": {"sales_per_minute", "sales_by_country"},
    "cart_analyzer": {"cart_sessions", "abandoned_carts", "cart_metrics"},
    "product_view_analyzer": {
        "trending_products",
        "category_performance",
        "search_behavior",
        "browsing_sessions",
    },
    "anomaly_detector": {
        "high_value_anomalies",
        "high_quantity_anomalies",
        "suspicious_patterns",
        "anomaly_stats",
    },
    "inventory_tracker": {
        "product_sales_velocity",
        "inventory_by_country",
        "high_demand_alerts",
        "restock_alerts",
        "inventory_metrics",
    },
}


def test_five_jobs_write_the_spec_s_eighteen_tables() -> None:
    jobs = all_jobs()
    assert list(jobs) == list(SPEC_TABLES)
    for name, tables in SPEC_TABLES.items():
        assert set(jobs[name].tables) - {"alerts"} == tables
    assert sum(len(t) for t in SPEC_TABLES.values()) == 18


def test_each_table_is_written_by_the_job_its_schema_names() -> None:
    for entry in load_catalog().tables("realtime"):
        job = entry.latest.data.get("job")
        if job:
            assert entry.name in all_jobs()[job].tables, entry.name


def test_watermarks_are_1_to_10_minutes_and_documented() -> None:
    delays = {j.name: j.watermark_minutes for j in all_jobs().values()}
    assert all(1 <= d <= 10 for d in delays.values())
    assert min(delays.values()) == 1 and max(delays.values()) == 10
    for job in all_jobs().values():
        assert f"Watermark: {job.watermark_minutes} minute" in job.doc, job.name


def test_window_lengths_match_the_schemas() -> None:
    # the schemas' window_duration is what the job must use; the jobs say it in their code
    for job in all_jobs().values():
        for table in job.window_tables:
            assert sink(table).version.data.get("window_duration"), table


def test_select_by_name_and_unknown_names() -> None:
    assert [j.name for j in select(["inventory_tracker"])] == ["inventory_tracker"]
    try:
        select(["nope"])
    except KeyError as error:
        assert "nope" in str(error)
    else:
        raise AssertionError("unknown job accepted")
