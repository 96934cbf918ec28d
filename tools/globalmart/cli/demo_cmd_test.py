"""The demo's consumer-lag reading of the stream driver's status file."""

from __future__ import annotations

import json
from pathlib import Path

from globalmart.cli.demo_cmd import processed_offsets
from globalmart.core.settings import Settings


def _settings(tmp_path: Path) -> Settings:
    return Settings(globalmart_state_dir=tmp_path)  # type: ignore[call-arg]


def test_lag_takes_the_least_advanced_query_of_each_topic(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    queries = {
        "sales_aggregator": {"committed_records": 120},
        "anomaly_detector": {"committed_records": 90},
        "inventory_tracker": {"committed_records": None},
        "cart_analyzer": {"committed_records": 40},
        "product_view_analyzer": {"committed_records": 300},
        "not_a_job": {"committed_records": 1},
    }
    (tmp_path / "run" / "stream-status.json").write_text(json.dumps({"queries": queries}))
    assert processed_offsets(_settings(tmp_path)) == {
        "transactions-topic": 0,  # inventory_tracker has committed nothing yet
        "cart-events-topic": 40,
        "product-views-topic": 300,
    }


def test_no_status_file_means_unknown(tmp_path: Path) -> None:
    assert processed_offsets(_settings(tmp_path)) is None
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "stream-status.json").write_text("not json")
    assert processed_offsets(_settings(tmp_path)) is None
