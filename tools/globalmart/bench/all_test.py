"""`bench all`'s report: headline ratios and the Markdown rendered from a JSON result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from globalmart.bench.all import headlines, parse_only, render_markdown, write_report

# The shape each bench returns (trimmed), as `bench all --json` writes it.
RESULT = {
    "started_at": "2026-11-24T10:00:00+00:00",
    "finished_at": "2026-11-24T10:20:00+00:00",
    "machine": {
        "cores": 2,
        "memory_gib": 23.5,
        "cpu_model": "Example CPU @ 2.1GHz",
        "os": "Linux 6.1",
        "load_average": [1.5, 1.25, 1.0],
        "load_average_end": [3.0, 2.0, 1.5],
    },
    "versions": {"python": "3.11.9", "spark": "4.1.1", "kafka": "4.1.1", "apicurio": "3.3.3"},
    "benches": {
        "generator": {
            "ok": True,
            "seconds": 80.2,
            "load_before": [1.5, 1.2, 1.0],
            "load_after": [2.0, 1.4, 1.1],
            "result": {"events_per_second": 60_000.0, "kafka_records_per_second": 240_000.0},
        },
        "stream": {"ok": False, "seconds": 3.0, "error": "BenchError: the stream driver exited"},
        "batch": {
            "ok": True,
            "seconds": 120.0,
            "result": {"spark_total_s": 90.0, "duckdb_total_s": 1.5, "duckdb_s": {"rfm": 0.5}},
        },
        "api": {
            "ok": True,
            "seconds": 30.0,
            "result": {
                "target_rps": 500,
                "cached_get": {"p99_ms": 4.0, "p50_ms": 1.0},
                "max_rps": 1_600.0,
                "redis_get": {"p99_ms": 0.25, "ops_per_s": 8_000.0},
            },
        },
    },
}


def test_headlines_divide_each_figure_by_its_in_run_baseline() -> None:
    rows = {(r["bench"], r["figure"]): r for r in headlines(RESULT)}
    assert rows[("generator", "generator events/s")]["ratio"] == 0.25
    assert rows[("batch", "Spark batch (one day)")]["ratio"] == 60.0
    assert rows[("api", "cached GET p99 at 500/s")]["ratio"] == 16.0
    assert rows[("api", "gateway saturation requests/s")]["ratio"] == 0.2
    assert not any(bench == "stream" for bench, _ in rows)  # it failed: no figures


def test_markdown_from_the_json_result(tmp_path: Path) -> None:
    json_path, md_path = write_report(json.loads(json.dumps(RESULT)), tmp_path)
    assert json.loads(json_path.read_text())["benches"]["api"]["result"]["max_rps"] == 1600.0
    text = md_path.read_text()
    assert text == render_markdown(json.loads(json_path.read_text())) + "\n"
    assert md_path.name == "bench-20261124T100000Z.md"
    assert "- 2 cores, 23.5 GiB, Example CPU @ 2.1GHz (Linux 6.1)" in text
    assert "1.50 / 1.25 / 1.00 at the start, 3.00 / 2.00 / 1.50 at the end" in text
    assert "python 3.11.9, spark 4.1.1, kafka 4.1.1, apicurio 3.3.3" in text
    assert (
        "| generator | generator events/s | 60,000 events/s | Kafka ProducerPerformance "
        "records/s | 240,000 events/s | 0.25 |" in text
    )
    assert "| api | cached GET p99 at 500/s | 4 ms | bare Redis GET p99 | 0.25 ms | 16 |" in text
    assert "### stream: FAILED in 3 s" in text
    assert "BenchError: the stream driver exited" in text
    assert "| duckdb_s.rfm | 0.5 |" in text  # nested figures, flattened


def test_only_keeps_the_canonical_order_and_refuses_unknown_names() -> None:
    assert parse_only(None) == ["generator", "stream", "batch", "api"]
    assert parse_only(["api,generator"]) == ["generator", "api"]
    assert parse_only(["api", "batch"]) == ["batch", "api"]
    with pytest.raises(ValueError, match="unknown bench"):
        parse_only(["apis"])
