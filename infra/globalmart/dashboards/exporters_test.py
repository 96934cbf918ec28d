from __future__ import annotations

from pathlib import Path

import pytest

from globalmart.dashboards.exporters import (
    MetricDefinition,
    definitions_in_source,
    definitions_in_tree,
    exposed_names,
    names_in_exposition,
)

SOURCE = """
from prometheus_client import Counter, Gauge as G, Histogram
import prometheus_client as pc

PREFIX = "svc"
SUFFIX: str = "seconds"

A = Counter(f"{PREFIX}_events", "doc", ["type"])
B = G("svc_rate", "doc")
C = Histogram(name=PREFIX + "_latency_" + SUFFIX, documentation="doc")
D = pc.Summary("size", "doc", namespace="svc", subsystem="req")
E = Counter("svc_requests_total", "doc")
F = pc.Info("svc_build", "doc")
Counter = None  # shadowing later does not matter to the scan
"""


def test_definitions_in_source_resolve_names() -> None:
    found = {(d.kind, d.name) for d in definitions_in_source(SOURCE)}
    assert found == {
        ("Counter", "svc_events"),
        ("Gauge", "svc_rate"),
        ("Histogram", "svc_latency_seconds"),
        ("Summary", "svc_req_size"),
        ("Counter", "svc_requests_total"),
        ("Info", "svc_build"),
    }


def test_exposed_sample_names_follow_prometheus_client() -> None:
    assert MetricDefinition("Counter", "x").exposed() == {"x_total", "x_created"}
    assert MetricDefinition("Counter", "x_total").exposed() == {"x_total", "x_created"}
    assert MetricDefinition("Histogram", "h").exposed() == {
        "h_bucket",
        "h_count",
        "h_sum",
        "h_created",
    }
    assert MetricDefinition("Gauge", "g").exposed() == {"g"}
    assert "svc_build_info" in exposed_names(definitions_in_source(SOURCE))


def test_unresolvable_names_fail_loudly() -> None:
    with pytest.raises(ValueError, match="not a string literal"):
        definitions_in_source("from prometheus_client import Gauge\nGauge(make_name(), 'd')\n")
    # Files that do not use prometheus_client are not metrics definitions.
    assert definitions_in_source("Counter = dict\nCounter('x')\n") == []


def test_definitions_in_tree_skips_tests(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg/metrics.py").write_text(SOURCE)
    (tmp_path / "pkg/metrics_test.py").write_text(
        "from prometheus_client import Gauge\nGauge('only_in_test', 'd')\n"
    )
    names = {d.name for d in definitions_in_tree([tmp_path])}
    assert "svc_rate" in names and "only_in_test" not in names


def test_names_in_exposition() -> None:
    text = (
        "# HELP up x\n# TYPE up gauge\nup 1\n"
        'jvm_memory_used_bytes{area="heap"} 12.0\n'
        "process_cpu_seconds_total 3 1700000000\n\n"
    )
    assert names_in_exposition(text) == {"up", "jvm_memory_used_bytes", "process_cpu_seconds_total"}
