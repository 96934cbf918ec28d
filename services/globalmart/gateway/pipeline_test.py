"""Pipeline health summary: ledger and progress reports joined per stream query."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from globalmart.gateway.pipeline import summarize

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


def test_ledger_and_progress_are_joined_on_the_query_name() -> None:
    last = [("sales_aggregator", 41, ["sales_per_minute"], 12, NOW - timedelta(seconds=8))]
    recent = [("sales_aggregator", 30, 400)]
    progress = {
        "sales_aggregator": {
            "watermark": "2026-11-24T11:59:15.000Z",
            "input_rows_per_second": 12.5,
            "rows_dropped_by_watermark": 2,
            "timestamp": "2026-11-24T11:59:58.000Z",
        },
        # Reports progress but never committed a batch (e.g. no input yet): still listed.
        "cart_analyzer": {"watermark": "1970-01-01T00:00:00.000Z", "input_rows_per_second": 0},
    }
    out = {q["query_name"]: q for q in summarize(NOW, last, recent, progress)}
    assert list(out) == ["cart_analyzer", "sales_aggregator"]
    sales = out["sales_aggregator"]
    assert sales["last_batch_id"] == 41 and sales["tables"] == ["sales_per_minute"]
    assert sales["seconds_since_commit"] == 8.0
    assert (sales["batches_recent"], sales["rows_recent"]) == (30, 400)
    assert sales["event_time_lag_seconds"] == 45.0
    assert sales["watermark"] == "2026-11-24T11:59:15Z"
    assert sales["rows_dropped_by_watermark"] == 2
    assert sales["progress_at"] == "2026-11-24T11:59:58Z"
    carts = out["cart_analyzer"]
    # Spark's watermark is the epoch until the first event: that is no lag, not 56 years.
    assert carts["event_time_lag_seconds"] is None and carts["watermark"] is None
    assert carts["last_commit_at"] is None and carts["batches_recent"] == 0


def test_no_progress_store_still_reports_the_ledger() -> None:
    last = [("inventory_tracker", 3, ["restock_alerts"], 1, NOW - timedelta(minutes=30))]
    (only,) = summarize(NOW, last, [], {})
    assert only["seconds_since_commit"] == 1800.0
    assert only["event_time_lag_seconds"] is None and only["input_rows_per_second"] is None
