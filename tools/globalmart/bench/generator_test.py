from __future__ import annotations

import pytest

from globalmart.bench.generator import BenchError, parse_producer_performance

OUTPUT = """\
512345 records sent, 102469.0 records/sec (11.82 MB/sec), 210.3 ms avg latency, 612.0 ms max \
latency.
1000000 records sent, 231481.5 records/sec (26.49 MB/sec), 512.30 ms avg latency, 1022.00 ms max \
latency, 480 ms 50th, 950 ms 95th, 1010 ms 99th, 1020 ms 99.9th.
"""


def test_reads_the_final_summary_line() -> None:
    figures = parse_producer_performance(OUTPUT)
    assert figures["records"] == "1000000"
    assert float(figures["rate"]) == 231481.5
    assert float(figures["avg"]) == 512.3


def test_missing_summary_is_an_error() -> None:
    with pytest.raises(BenchError, match="could not read"):
        parse_producer_performance("Exception in thread main")
