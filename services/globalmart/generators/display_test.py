from __future__ import annotations

import io
from datetime import UTC, datetime

from rich.console import Console

from globalmart.generators.display import LiveDisplay, summary_table
from globalmart.generators.metrics import GeneratorMetrics
from globalmart.generators.runner import RunSummary
from globalmart.generators.worker import WorkerReport

TOTALS = {
    "generated": 12_345,
    "produced.product_view": 7_400,
    "delivered.product_view": 7_390,
    "produced.cart_event": 3_700,
    "produced.transaction": 1_240,
    "invalid.transaction": 5,
    "anomaly.high_value": 9,
    "late": 120,
}


def test_live_display_shows_counts_by_type() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120)
    metrics = GeneratorMetrics()
    with LiveDisplay(console, count=20_000, duration_s=None) as display:
        display.update({0: WorkerReport(0, dict(TOTALS), 1.0)}, metrics)
    text = buffer.getvalue()
    for expected in ("product_view", "7,400", "7,390", "transaction", "anomalies 9", "late 120"):
        assert expected in text


def test_summary_table_and_metrics_from_totals() -> None:
    now = datetime.now(UTC)
    summary = RunSummary(
        "abc123", 7, 42, now, now, 2.5, 2.0, 1,
        {"product_view": "p", "cart_event": "c", "transaction": "t"},
        dict(TOTALS), {}, [],
    )  # fmt: skip
    buffer = io.StringIO()
    Console(file=buffer, width=160).print(summary_table(summary))
    assert "seed 7" in buffer.getvalue() and "12,345 events" in buffer.getvalue()
    assert summary.events_per_second == 12_345 / 2.0
    assert not summary.ok  # not everything was acknowledged
    metrics = GeneratorMetrics()
    metrics.update(TOTALS, [0.01, 0.02])
    metrics.update({**TOTALS, "produced.transaction": 1_300})
    sample = metrics.registry.get_sample_value
    assert sample("globalmart_generator_events_total", {"type": "transaction"}) == 1_300
    assert sample("globalmart_generator_invalid_events_total", {"type": "transaction"}) == 5
    assert sample("globalmart_generator_anomalies_total", {"kind": "high_value"}) == 9
    assert sample("globalmart_generator_send_latency_seconds_count") == 2
