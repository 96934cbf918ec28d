"""Prometheus metrics of the streaming queries (served on settings.stream_metrics_port).

Fed by the query listener (Spark's progress reports) and the batch writer (rows per table).
`gm_stream_rows_dropped_by_watermark_total` counts the rows each query's stateful operator
dropped as late (Spark's numRowsDroppedByWatermark: partial aggregates of late events, i.e. at
least one per late event and window grain).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from globalmart.stream.writer import BatchReport


class StreamMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        labels = ["query"]
        r = self.registry
        self.input_rows = Counter("gm_stream_input_rows", "Kafka records read", labels, registry=r)
        self.input_rate = Gauge(
            "gm_stream_input_rows_per_second", "Input rate of the last batch", labels, registry=r
        )
        self.processed_rate = Gauge(
            "gm_stream_processed_rows_per_second",
            "Processing rate of the last batch",
            labels,
            registry=r,
        )
        self.batch_seconds = Gauge(
            "gm_stream_batch_duration_seconds", "Duration of the last batch", labels, registry=r
        )
        self.dropped = Counter(
            "gm_stream_rows_dropped_by_watermark",
            "Rows dropped as later than the watermark",
            labels,
            registry=r,
        )
        self.state_rows = Gauge(
            "gm_stream_state_rows", "Rows held in the stateful operator", labels, registry=r
        )
        self.watermark = Gauge(
            "gm_stream_watermark_timestamp_seconds",
            "Event-time watermark (epoch)",
            labels,
            registry=r,
        )
        self.last_batch = Gauge("gm_stream_last_batch_id", "Last batch id", labels, registry=r)
        self.active = Gauge("gm_stream_query_active", "1 while the query runs", labels, registry=r)
        self.rows_written = Counter(
            "gm_stream_rows_written", "Rows upserted per table", ["query", "table"], registry=r
        )
        self.batches = Counter(
            "gm_stream_batches",
            "Batches written (outcome committed) or skipped as replays (outcome replayed)",
            ["query", "outcome"],
            registry=r,
        )
        self.finalized = Counter(
            "gm_stream_windows_finalized", "Window rows marked final", labels, registry=r
        )
        self.alerts = Counter(
            "gm_stream_alerts_new", "New alerts stored", ["query", "severity"], registry=r
        )

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:
        start_http_server(port, addr=addr, registry=self.registry)

    def on_progress(self, progress: dict[str, Any]) -> None:
        query = str(progress.get("name") or progress.get("id"))
        self.input_rows.labels(query).inc(int(progress.get("numInputRows", 0)))
        self.input_rate.labels(query).set(float(progress.get("inputRowsPerSecond") or 0.0))
        self.processed_rate.labels(query).set(float(progress.get("processedRowsPerSecond") or 0.0))
        duration = (progress.get("durationMs") or {}).get("triggerExecution", 0)
        self.batch_seconds.labels(query).set(float(duration) / 1000)
        self.last_batch.labels(query).set(float(progress.get("batchId", 0)))
        operators = progress.get("stateOperators") or []
        self.dropped.labels(query).inc(
            sum(int(o.get("numRowsDroppedByWatermark", 0)) for o in operators)
        )
        self.state_rows.labels(query).set(sum(int(o.get("numRowsTotal", 0)) for o in operators))
        watermark = (progress.get("eventTime") or {}).get("watermark")
        if watermark:
            parsed = datetime.fromisoformat(watermark.replace("Z", "+00:00"))
            self.watermark.labels(query).set(parsed.timestamp())
        self.active.labels(query).set(1)

    def on_batch(self, report: BatchReport) -> None:
        self.batches.labels(report.query_name, "replayed" if report.skipped else "committed").inc()
        for table, count in report.rows.items():
            self.rows_written.labels(report.query_name, table).inc(count)
        self.finalized.labels(report.query_name).inc(report.finalized)
        for alert in report.new_alerts:
            self.alerts.labels(report.query_name, str(alert["severity"])).inc()

    def on_terminated(self, query: str) -> None:
        self.active.labels(query).set(0)
