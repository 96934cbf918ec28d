from __future__ import annotations

import pytest

from globalmart.dashboards.promql import metric_names


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("up", {"up"}),
        ('up{job="kafka"} == 0', {"up"}),
        (
            'sum by (topic) (rate(kafka_server_brokertopicmetrics_messagesin_total{topic!=""}'
            "[$__rate_interval]))",
            {"kafka_server_brokertopicmetrics_messagesin_total"},
        ),
        (
            "histogram_quantile(0.95, sum by (le) "
            "(rate(gateway_http_request_duration_seconds_bucket[5m])))",
            {"gateway_http_request_duration_seconds_bucket"},
        ),
        (
            "time() - gm_stream_watermark_timestamp_seconds",
            {"gm_stream_watermark_timestamp_seconds"},
        ),
        # label lists of by/without/on/group_left are labels, not metrics
        (
            'sum(a{x="}"}) without (instance) / on(job) group_left(team) b offset 5m > bool 1e3',
            {"a", "b"},
        ),
        ("a and b or c unless d", {"a", "b", "c", "d"}),
        ('{__name__="foo_bar", job="x"}', {"foo_bar"}),
        ('label_replace(up, "dst", "$1", "src", "(.*)")', {"up"}),
        ("rate(x_total[5m:1m])", {"x_total"}),
        ("clamp_max(idle, 1)", {"idle"}),
        ("sum(rate(a[$__rate_interval])) / ${divisor}", {"a"}),
        ("vector(1)", set()),
    ],
)
def test_metric_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names
