"""Prometheus metrics of a generator run, served on settings.generator_metrics_port.

Workers count in plain ints (a labelled Counter.inc costs more than encoding an event) and report
cumulative totals a few times a second; `GeneratorMetrics.update` turns the totals into counter
increments, so the exposed counters are exact whatever the number of processes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from globalmart.generators.config import KINDS

PREFIX = "globalmart_generator"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class GeneratorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events = Counter(
            f"{PREFIX}_events",
            "Events handed to the Kafka producer, by type.",
            ["type"],
            registry=r,
        )
        self.delivered = Counter(
            f"{PREFIX}_delivered",
            "Events the broker acknowledged (acks=all).",
            ["type"],
            registry=r,
        )
        self.failures = Counter(
            f"{PREFIX}_delivery_failures",
            "Events the producer reported as not delivered.",
            ["type"],
            registry=r,
        )
        self.invalid = Counter(
            f"{PREFIX}_invalid_events",
            "Events that failed schema validation and went to the dead-letter topic.",
            ["type"],
            registry=r,
        )
        self.anomalies = Counter(
            f"{PREFIX}_anomalies", "Anomalous transactions injected, by kind.", ["kind"], registry=r
        )
        self.late = Counter(
            f"{PREFIX}_late_events", "Events sent with a past (late) event time.", registry=r
        )
        self.latency = Histogram(
            f"{PREFIX}_send_latency_seconds",
            "Time from produce() to the broker's acknowledgement (sampled).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.rate = Gauge(f"{PREFIX}_events_per_second", "Recent send rate.", registry=r)
        self.processes = Gauge(f"{PREFIX}_processes", "Worker processes running.", registry=r)
        self._last: dict[str, int] = {}
        for kind in KINDS:  # expose every series from the start, at 0
            for counter in (self.events, self.delivered, self.failures, self.invalid):
                counter.labels(type=kind)

    def serve(self, port: int) -> None:
        """Start the /metrics endpoint (a daemon thread). Raises OSError if the port is taken."""
        start_http_server(port, registry=self.registry)

    def update(self, totals: Mapping[str, int], latencies: Iterable[float] = ()) -> None:
        """Apply cumulative totals (keys like `produced.transaction`, `anomaly.high_value`)."""
        for key, value in totals.items():
            delta = value - self._last.get(key, 0)
            if delta <= 0:
                continue
            self._last[key] = value
            family, _, label = key.partition(".")
            if family == "produced":
                self.events.labels(type=label).inc(delta)
            elif family == "delivered":
                self.delivered.labels(type=label).inc(delta)
            elif family == "failed":
                self.failures.labels(type=label).inc(delta)
            elif family == "invalid":
                self.invalid.labels(type=label).inc(delta)
            elif family == "anomaly":
                self.anomalies.labels(kind=label).inc(delta)
            elif family == "late":
                self.late.inc(delta)
        for seconds in latencies:
            self.latency.observe(seconds)
