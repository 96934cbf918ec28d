from __future__ import annotations

import pytest

from globalmart.bench.generator import (
    BenchError,
    measured_part,
    parse_producer_performance,
    producer_props,
)
from globalmart.generators.worker import PRODUCER_DEFAULTS

OUTPUT = """\
512345 records sent, 102469.0 records/sec (11.82 MB/sec), 210.3 ms avg latency, 612.0 ms max \
latency.
1000000 records sent, 231481.5 records/sec (26.49 MB/sec), 512.30 ms avg latency, 1022.00 ms max \
latency, 480 ms 50th, 950 ms 95th, 1010 ms 99th, 1020 ms 99.9th.
"""

WARM = """\
== warm-up
100000 records sent, 90000.0 records/sec (10.00 MB/sec), 100.0 ms avg latency, 300.0 ms max \
latency, 90 ms 50th, 200 ms 95th, 250 ms 99th, 290 ms 99.9th.
== measured
"""


def test_reads_the_final_summary_line() -> None:
    figures = parse_producer_performance(OUTPUT)
    assert figures["records"] == "1000000"
    assert float(figures["rate"]) == 231481.5
    assert float(figures["avg"]) == 512.3


def test_the_warm_up_run_is_not_the_figure() -> None:
    figures = parse_producer_performance(measured_part(WARM + OUTPUT))
    assert float(figures["rate"]) == 231481.5
    # only a warm-up summary (the measured run printed nothing): no figure, not the warm-up's
    with pytest.raises(BenchError):
        parse_producer_performance(measured_part(WARM))
    assert measured_part(OUTPUT) == OUTPUT  # no launcher marks: the whole output


def test_missing_summary_is_an_error() -> None:
    with pytest.raises(BenchError, match="could not read"):
        parse_producer_performance("Exception in thread main")


def test_the_kafka_tool_gets_the_generators_producer_settings() -> None:
    props = producer_props()
    assert props["acks"] == "all"
    assert props["enable.idempotence"] == "true"
    assert props["linger.ms"] == str(PRODUCER_DEFAULTS["linger.ms"])
    assert props["batch.size"] == str(PRODUCER_DEFAULTS["batch.size"])
    assert props["compression.type"] == PRODUCER_DEFAULTS["compression.type"]
