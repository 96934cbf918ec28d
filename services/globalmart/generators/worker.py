"""One generator process: model -> validate + encode -> idempotent Kafka producer, at a pace.

Every event is keyed by its user_id, so one user's events land in one partition per topic and,
with idempotence (ordered, de-duplicated retries), stay in the order they were generated. Users
are split between processes by number, so several processes never interleave one user's events.

Nothing acknowledged is lost: the producer waits for acks=all, and shutdown (end of count or
duration, or a stop request) stops generating and flushes until every message in flight is
either delivered or reported failed; the final report says how many of each.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import KafkaError, Message, Producer

from globalmart.generators.codec import FAST_PATH_ERRORS, InvalidDatum
from globalmart.generators.config import KINDS, ModelConfig
from globalmart.generators.model import EventModel
from globalmart.generators.topics import Route
from globalmart.generators.wire import (
    SchemaIds,
    Serializer,
    WireFormat,
    build_wire_formats,
    dead_letter_record,
)
from globalmart.schemas.catalog import load_catalog

log = logging.getLogger(__name__)
_CLIENT_LOG = logging.getLogger(__name__ + ".librdkafka")

#: producer settings that make throughput: big batches, a short linger, a deep local queue
PRODUCER_DEFAULTS: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 25,
    "batch.size": 1_000_000,
    "batch.num.messages": 20_000,
    "queue.buffering.max.messages": 500_000,
    "queue.buffering.max.kbytes": 512 * 1024,
    "compression.type": "none",
    "message.timeout.ms": 120_000,
}


class StopSignal(Protocol):
    def is_set(self) -> bool:
        ...


@dataclass(frozen=True)
class WorkerPlan:
    """Everything one process needs (picklable: sent to spawned workers)."""

    model: ModelConfig
    routes: dict[str, Route]
    ids: dict[str, SchemaIds]
    bootstrap_servers: str
    #: events per second for this worker; 0 sends as fast as the machine allows
    rate: float = 0.0
    #: stop after this many events (valid or not) ...
    count: int | None = None
    #: ... or after this many seconds; with neither, run until stopped
    duration_s: float | None = None
    serializer: Serializer = "compiled"
    registry_url: str = ""
    producer_config: dict[str, Any] = field(default_factory=dict)
    report_every_s: float = 0.5
    flush_timeout_s: float = 120.0
    #: observe the send latency of one delivery in this many (a histogram observe is costly)
    latency_sample: int = 16


@dataclass
class WorkerReport:
    worker: int
    #: cumulative: produced.<kind>, delivered.<kind>, failed.<kind>, invalid.<kind>,
    #: dlq_delivered, dlq_failed, anomaly.<kind>, late, bytes, undelivered
    totals: dict[str, int]
    elapsed_s: float
    #: sampled send latencies (seconds) since the previous report
    latencies: list[float] = field(default_factory=list)
    finished: bool = False
    error: str | None = None
    last_delivery_error: str | None = None


class _Counts:
    """Plain-int counters indexed by kind number (fast in the hot loop)."""

    def __init__(self) -> None:
        self.produced = [0, 0, 0]
        self.delivered = [0, 0, 0]
        self.failed = [0, 0, 0]
        self.invalid = [0, 0, 0]
        self.dlq_delivered = 0
        self.dlq_failed = 0
        self.bytes = 0
        self.latencies: list[float] = []
        self.last_error: str | None = None


def run_worker(
    plan: WorkerPlan, report: Callable[[WorkerReport], None], stop: StopSignal
) -> WorkerReport:
    """Generate and send until count/duration/stop; returns (and reports) the final totals."""
    catalog = load_catalog()
    formats = build_wire_formats(catalog, plan.routes, plan.ids, plan.serializer, plan.registry_url)
    model = EventModel(plan.model)
    counts = _Counts()
    topic_index = {plan.routes[kind].topic: i for i, kind in enumerate(KINDS)}
    sample = max(1, plan.latency_sample)

    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        i = topic_index.get(msg.topic() or "")
        if i is None:  # a dead letter
            if err is None:
                counts.dlq_delivered += 1
            else:
                counts.dlq_failed += 1
                counts.last_error = str(err)
            return
        if err is None:
            counts.delivered[i] += 1
            if counts.delivered[i] % sample == 0:
                latency = msg.latency()
                if latency is not None:
                    counts.latencies.append(latency)
        else:
            counts.failed[i] += 1
            counts.last_error = str(err)

    config: dict[str, Any] = {
        **PRODUCER_DEFAULTS,
        **plan.producer_config,
        "bootstrap.servers": plan.bootstrap_servers,
        "client.id": f"globalmart-generator-{plan.model.worker}",
        "on_delivery": on_delivery,
        "logger": _CLIENT_LOG,
    }
    producer = Producer(config)
    sender = _Sender(plan, model, formats, producer, counts)
    started = time.monotonic()

    def snapshot(finished: bool, undelivered: int = 0) -> WorkerReport:
        latencies, counts.latencies = counts.latencies, []
        return WorkerReport(
            plan.model.worker,
            _totals(counts, model, undelivered),
            time.monotonic() - started,
            latencies,
            finished,
            None,
            counts.last_error,
        )

    try:
        sender.run(stop, lambda: report(snapshot(False)))
    finally:
        undelivered = _flush(producer, plan.flush_timeout_s)
    final = snapshot(True, undelivered)
    report(final)
    return final


def _flush(producer: Producer, timeout_s: float) -> int:
    """Wait for every in-flight message to be acknowledged or failed; returns those left."""
    deadline = time.monotonic() + timeout_s
    remaining = len(producer)
    while remaining and time.monotonic() < deadline:
        remaining = producer.flush(min(1.0, max(0.0, deadline - time.monotonic())))
    return int(remaining)


def _totals(counts: _Counts, model: EventModel, undelivered: int) -> dict[str, int]:
    totals: dict[str, int] = {}
    for i, kind in enumerate(KINDS):
        totals[f"produced.{kind}"] = counts.produced[i]
        totals[f"delivered.{kind}"] = counts.delivered[i]
        totals[f"failed.{kind}"] = counts.failed[i]
        totals[f"invalid.{kind}"] = counts.invalid[i]
    totals["dlq_delivered"] = counts.dlq_delivered
    totals["dlq_failed"] = counts.dlq_failed
    totals["bytes"] = counts.bytes
    totals["generated"] = model.seq
    totals["undelivered"] = undelivered
    totals["late"] = model.counts["late"]
    totals["checkout_purchases"] = model.counts["checkout_purchases"]
    totals["direct_purchases"] = model.counts["direct_purchases"]
    for key, value in model.counts.items():
        if key.startswith("anomaly_"):
            totals[f"anomaly.{key.removeprefix('anomaly_')}"] = value
    return totals


class _Sender:
    """The hot loop, kept apart so its locals stay locals."""

    def __init__(
        self,
        plan: WorkerPlan,
        model: EventModel,
        formats: dict[str, WireFormat],
        producer: Producer,
        counts: _Counts,
    ) -> None:
        self.plan = plan
        self.model = model
        self.formats = formats
        self.producer = producer
        self.counts = counts

    def run(self, stop: StopSignal, tick: Callable[[], None]) -> None:
        plan, counts, producer = self.plan, self.counts, self.producer
        next_event = self.model.next_event
        encoders = [self.formats[kind].encode for kind in KINDS]
        # the codec's fast half, and its careful half for whatever the fast one refuses
        fast = [getattr(e, "fast", e) for e in encoders]
        careful = [getattr(e, "careful", e) for e in encoders]
        topics = [self.formats[kind].route.topic for kind in KINDS]
        produce, poll = producer.produce, producer.poll
        produced = counts.produced
        limit = plan.count
        rate = plan.rate
        started = time.monotonic()
        deadline = started + plan.duration_s if plan.duration_s else None
        next_tick = started + plan.report_every_s
        sent = 0  # events generated (valid or not)
        size = 0
        chunk = 512
        while True:
            now = time.monotonic()
            if stop.is_set() or (deadline is not None and now >= deadline):
                break
            if limit is not None and sent >= limit:
                break
            if now >= next_tick:
                counts.bytes = size
                tick()
                next_tick = now + plan.report_every_s
            batch = chunk if limit is None else min(chunk, limit - sent)
            if rate:
                due = int((now - started) * rate) - sent
                if due <= 0:
                    poll(min(0.05, max(0.0, (sent + 1) / rate - (now - started))))
                    continue
                batch = min(batch, due)
            for _ in range(batch):
                kind, key, event = next_event()
                try:
                    value = fast[kind](event)
                except FAST_PATH_ERRORS:  # (InvalidDatum is a ValueError)
                    try:
                        value = careful[kind](event)
                    except InvalidDatum as exc:
                        self._dead_letter(kind, key, event, exc)
                        continue
                try:
                    produce(topics[kind], value, key)
                except BufferError:  # local queue full: let deliveries drain it, then retry
                    while True:
                        poll(0.05)
                        try:
                            produce(topics[kind], value, key)
                            break
                        except BufferError:
                            continue
                produced[kind] += 1
                size += len(value)
            sent += batch
            poll(0)
        counts.bytes = size

    def _dead_letter(self, kind: int, key: str, event: dict[str, Any], exc: InvalidDatum) -> None:
        wire = self.formats[KINDS[kind]]
        record = dead_letter_record(wire.route, key, event, str(exc), "SchemaValidationError")
        value = wire.encode_dead_letter(record)
        while True:
            try:
                self.producer.produce(wire.route.dlq_topic, value, key)
                break
            except BufferError:
                self.producer.poll(0.05)
        self.counts.invalid[kind] += 1
        log.debug("dead-lettered %s %s: %s", KINDS[kind], event.get("event_id"), exc)


def ignore_interrupts() -> None:
    """Worker processes leave Ctrl-C to the parent, which stops them cleanly (flushing)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
