"""`bench generator`: our generator's events/s into the real broker vs Kafka's own producer tool.

In one run: the generator at the default mix (validation, Avro encoding, idempotent acks=all
producer, deliveries counted) into fresh scratch topics, then
`org.apache.kafka.tools.ProducerPerformance` (from the stack's kafka-tools jar) with the same
acks and the generator's average record size (value + key), and their ratio. The two alternate
for `rounds` rounds and the best of each counts. The generator's rate is events over its sending
time (first event to last acknowledgement; interpreter and registry start-up excluded, as the
Kafka tool's own figure excludes JVM start-up). The target is at least 100k
events/s from one process, or half the Kafka tool's rate, whichever is lower.
"""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from globalmart.core.settings import Settings
from globalmart.generators.runner import RunOptions, RunSummary, generate
from globalmart.generators.topics import routes
from globalmart.schemas.catalog import load_catalog
from globalmart.stack.kafka import Kafka, TopicSpec, create_topics, delete_topics

TARGET_EVENTS_PER_SECOND = 100_000.0
TARGET_RATIO = 0.5
# "100000 records sent, 231481.5 records/sec (26.49 MB/sec), 512.3 ms avg latency, ..."
_SUMMARY = re.compile(
    r"(?P<records>\d+) records sent, (?P<rate>[\d.]+) records/sec \((?P<mb>[\d.]+) MB/sec\), "
    r"(?P<avg>[\d.]+) ms avg latency, (?P<max>[\d.]+) ms max latency"
)


class BenchError(RuntimeError):
    pass


@dataclass
class GeneratorBench:
    events: int
    processes: int
    rounds: int
    seconds: float
    events_per_second: float
    average_record_bytes: float
    delivered: int
    kafka_records: int
    kafka_seconds: float
    kafka_records_per_second: float
    kafka_avg_latency_ms: float
    ratio: float
    target_events_per_second: float
    meets_target: bool
    kafka_command: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_generator_bench(
    settings: Settings,
    events: int = 300_000,
    processes: int = 1,
    kafka_records: int | None = None,
    rounds: int = 2,
) -> GeneratorBench:
    """Alternate generator and Kafka tool `rounds` times; the best of each is reported (on a
    shared machine the other load comes and goes: alternating exposes both to the same)."""
    prefix = f"bench-{uuid.uuid4().hex[:8]}-"
    created: list[str] = []
    best: RunSummary | None = None
    best_kafka: tuple[dict[str, str], float, list[str]] | None = None
    try:
        for round_ in range(max(1, rounds)):
            scratch = routes(load_catalog(), f"{prefix}{round_}-").values()
            created += [name for route in scratch for name in (route.topic, route.dlq_topic)]
            summary = _generator_round(settings, events, processes, f"{prefix}{round_}-")
            if best is None or summary.events_per_second > best.events_per_second:
                best = summary
            size = summary.totals.get("bytes", 0) / max(1, summary.produced)
            # value size plus the key (a 9-character user id), as ProducerPerformance has no key
            record_size = max(1, round(size + 9))
            topic = f"{prefix}{round_}-producer-performance"
            create_topics(
                settings.kafka_bootstrap_servers,
                [TopicSpec(topic, settings.kafka_topic_partitions, settings.kafka_retention_hours)],
            )
            created.append(topic)
            command, output, seconds = _producer_performance(
                settings, topic, kafka_records or events, record_size
            )
            figures = parse_producer_performance(output)
            if best_kafka is None or float(figures["rate"]) > float(best_kafka[0]["rate"]):
                best_kafka = (figures, seconds, command)
    finally:
        delete_topics(settings.kafka_bootstrap_servers, created)
    assert best is not None and best_kafka is not None
    figures, seconds, command = best_kafka
    kafka_rate = float(figures["rate"])
    ours = best.events_per_second
    target = min(TARGET_EVENTS_PER_SECOND, TARGET_RATIO * kafka_rate)
    return GeneratorBench(
        events=best.totals.get("generated", 0),
        processes=processes,
        rounds=max(1, rounds),
        seconds=round(best.send_s, 3),
        events_per_second=round(ours, 1),
        average_record_bytes=round(best.totals.get("bytes", 0) / max(1, best.produced), 1),
        delivered=best.delivered,
        kafka_records=int(figures["records"]),
        kafka_seconds=round(seconds, 3),
        kafka_records_per_second=kafka_rate,
        kafka_avg_latency_ms=float(figures["avg"]),
        ratio=round(ours / kafka_rate, 3) if kafka_rate else 0.0,
        target_events_per_second=round(target, 1),
        meets_target=ours >= target,
        kafka_command=" ".join(command),
    )


def _generator_round(settings: Settings, events: int, processes: int, prefix: str) -> RunSummary:
    summary = generate(
        settings,
        RunOptions(
            rate=0,
            count=events,
            users=settings.data_gen_num_users,
            products=settings.data_gen_num_products,
            seed=1,
            reference_seed=settings.data_gen_seed,
            processes=processes,
            topic_prefix=prefix,
            metrics_port=0,
            record_run=False,
        ),
    )
    if not summary.ok:
        raise BenchError(f"generator run incomplete: {summary.totals} {summary.errors}")
    return summary


def parse_producer_performance(output: str) -> dict[str, str]:
    """The final summary line's figures (records, rate, mb, avg, max); BenchError if absent."""
    found = None
    for line in output.splitlines():
        found = _SUMMARY.search(line) or found  # progress lines come first, the total last
    if found is None:
        raise BenchError(f"could not read ProducerPerformance's summary from:\n{output[-2000:]}")
    return found.groupdict()


def _producer_performance(
    settings: Settings, topic: str, records: int, record_size: int
) -> tuple[list[str], str, float]:
    kafka = Kafka(settings)
    libs: Path = kafka.libs_dir
    if not any(libs.glob("kafka-tools-*.jar")):
        raise BenchError(f"no kafka-tools jar in {libs}: run `stack up kafka` to provision Kafka")
    command = [
        str(kafka._java()),
        "-Xmx512m",
        "-cp",
        f"{libs}/*",
        "org.apache.kafka.tools.ProducerPerformance",
        "--topic",
        topic,
        "--num-records",
        str(records),
        "--record-size",
        str(record_size),
        "--throughput",
        "-1",
        "--producer-props",
        f"bootstrap.servers={settings.kafka_bootstrap_servers}",
        "acks=all",
    ]
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise BenchError(
            f"ProducerPerformance failed ({result.returncode}): {result.stderr[-2000:]}"
        )
    return command, result.stdout, seconds
