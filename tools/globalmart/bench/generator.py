"""`bench generator`: our generator's events/s into the real broker vs Kafka's own producer tool.

Both sides get the same treatment, so the ratio compares code, not set-up:
- the same records: the generator at the default mix (validation, Avro encoding, idempotent
  acks=all producer, deliveries counted) into fresh scratch topics; then
  `org.apache.kafka.tools.ProducerPerformance` (the stack's kafka-tools jar) with the generator's
  average record size (value + key) and the generator's producer settings that Java has too
  (acks, idempotence, linger, batch size, compression), into a fresh topic with as many
  partitions;
- warm-up excluded: one generator run of `warmup` events before the measured ones (memo caches,
  imports, registry look-ups), and in every JVM a ProducerPerformance run of `warmup` records
  before the measured run (JIT compilation; both runs in one JVM, see _WARM_LAUNCHER);
- rates over sending time: the generator's from its first event to the last acknowledgement
  (interpreter and registry start-up excluded), the tool's own figure (JVM start excluded);
- rounds alternate (generator, tool, generator, ...) so both meet the same passing load on a shared
  machine; the best round of each counts, and every round's figure is kept in the result.

The target (the issue's): at least 100k events/s from one process, or half the Kafka tool's
rate, whichever is lower. With `processes` > 1 the figure is reported, but the target is about
one process and is then not claimed.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from globalmart.core.settings import Settings
from globalmart.generators.runner import RunOptions, RunSummary, generate
from globalmart.generators.topics import routes
from globalmart.generators.worker import PRODUCER_DEFAULTS
from globalmart.schemas.catalog import load_catalog
from globalmart.stack.kafka import Kafka, TopicSpec, create_topics, delete_topics

TARGET_EVENTS_PER_SECOND = 100_000.0
TARGET_RATIO = 0.5
#: the generator's producer settings the Java producer understands with the same meaning
_SHARED_PRODUCER_SETTINGS = ("acks", "enable.idempotence", "linger.ms", "batch.size")
_COMPRESSION = "compression.type"
# "100000 records sent, 231481.5 records/sec (26.49 MB/sec), 512.3 ms avg latency, ..."
_SUMMARY = re.compile(
    r"(?P<records>\d+) records sent, (?P<rate>[\d.]+) records/sec \((?P<mb>[\d.]+) MB/sec\), "
    r"(?P<avg>[\d.]+) ms avg latency, (?P<max>[\d.]+) ms max latency"
)
_MEASURED_MARK = "== measured"
#: runs ProducerPerformance twice in one JVM (warm-up, then measured); Java runs a single source
#: file directly (JEP 330), so nothing is compiled or shipped beyond this text
_WARM_LAUNCHER = """\
import java.util.Arrays;
import org.apache.kafka.tools.ProducerPerformance;

public class WarmProducerPerformance {
    public static void main(String[] args) throws Exception {
        int split = Arrays.asList(args).indexOf("--");
        System.out.println("== warm-up");
        ProducerPerformance.main(Arrays.copyOfRange(args, 0, split));
        System.out.println("== measured");
        ProducerPerformance.main(Arrays.copyOfRange(args, split + 1, args.length));
    }
}
"""


class BenchError(RuntimeError):
    pass


@dataclass
class GeneratorBench:
    events: int
    processes: int
    rounds: int
    warmup: int
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
    #: None when the run used several processes (the target is about one)
    meets_target: bool | None
    kafka_command: str
    kafka_producer_props: dict[str, str] = field(default_factory=dict)
    rounds_events_per_second: list[float] = field(default_factory=list)
    rounds_kafka_records_per_second: list[float] = field(default_factory=list)
    #: 1-minute load average before and after (other work on the machine skews both sides)
    load_before: float = 0.0
    load_after: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_generator_bench(
    settings: Settings,
    events: int = 1_000_000,
    processes: int = 1,
    kafka_records: int | None = None,
    rounds: int = 2,
    warmup: int | None = None,
) -> GeneratorBench:
    """Warm both up, then alternate generator and Kafka tool `rounds` times (see the module)."""
    warmup = min(events, 100_000) if warmup is None else warmup
    load_before = os.getloadavg()[0]
    prefix = f"bench-{uuid.uuid4().hex[:8]}-"
    created: list[str] = []
    summaries: list[RunSummary] = []
    #: (figures of the measured run, wall seconds of the whole JVM, command)
    tool_runs: list[tuple[dict[str, str], float, list[str]]] = []
    props = producer_props()

    def scratch(name: str) -> str:
        scratch_routes = routes(load_catalog(), f"{prefix}{name}-").values()
        created.extend(name for r in scratch_routes for name in (r.topic, r.dlq_topic))
        return f"{prefix}{name}-"

    try:
        if warmup:
            _generator_round(settings, warmup, processes, scratch("warmup"))
        for round_ in range(max(1, rounds)):
            summaries.append(_generator_round(settings, events, processes, scratch(str(round_))))
            size = summaries[-1].totals.get("bytes", 0) / max(1, summaries[-1].produced)
            # value size plus the key (a 9-character user id), as ProducerPerformance has no key
            record_size = max(1, round(size + 9))
            topic = f"{prefix}{round_}-producer-performance"
            create_topics(
                settings.kafka_bootstrap_servers,
                [TopicSpec(topic, settings.kafka_topic_partitions, settings.kafka_retention_hours)],
            )
            created.append(topic)
            command, output, seconds = _producer_performance(
                settings, topic, kafka_records or events, warmup, record_size, props
            )
            tool_runs.append((parse_producer_performance(measured_part(output)), seconds, command))
    finally:
        delete_topics(settings.kafka_bootstrap_servers, created)
    best = max(summaries, key=lambda s: s.events_per_second)
    figures, _wall, command = max(tool_runs, key=lambda run: float(run[0]["rate"]))
    kafka_rate = float(figures["rate"])
    ours = best.events_per_second
    target = min(TARGET_EVENTS_PER_SECOND, TARGET_RATIO * kafka_rate)
    return GeneratorBench(
        events=best.totals.get("generated", 0),
        processes=processes,
        rounds=max(1, rounds),
        warmup=warmup,
        seconds=round(best.send_s, 3),
        events_per_second=round(ours, 1),
        average_record_bytes=round(best.totals.get("bytes", 0) / max(1, best.produced), 1),
        delivered=best.delivered,
        kafka_records=int(figures["records"]),
        kafka_seconds=round(int(figures["records"]) / kafka_rate, 3) if kafka_rate else 0.0,
        kafka_records_per_second=kafka_rate,
        kafka_avg_latency_ms=float(figures["avg"]),
        ratio=round(ours / kafka_rate, 3) if kafka_rate else 0.0,
        target_events_per_second=round(target, 1),
        meets_target=ours >= target if processes == 1 else None,
        kafka_command=" ".join(command),
        kafka_producer_props=props,
        rounds_events_per_second=[round(s.events_per_second, 1) for s in summaries],
        rounds_kafka_records_per_second=[float(run[0]["rate"]) for run in tool_runs],
        load_before=round(load_before, 2),
        load_after=round(os.getloadavg()[0], 2),
    )


def producer_props() -> dict[str, str]:
    """The generator's producer settings, as Java producer properties (same names and meaning)."""
    props = {k: str(PRODUCER_DEFAULTS[k]).lower() for k in _SHARED_PRODUCER_SETTINGS}
    compression = str(PRODUCER_DEFAULTS.get(_COMPRESSION, "none"))
    props[_COMPRESSION] = compression
    return props


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


def measured_part(output: str) -> str:
    """The launcher's output after its warm-up run (all of it when there was no warm-up)."""
    _, mark, after = output.partition(_MEASURED_MARK)
    return after if mark else output


def parse_producer_performance(output: str) -> dict[str, str]:
    """The final summary line's figures (records, rate, mb, avg, max); BenchError if absent."""
    found = None
    for line in output.splitlines():
        found = _SUMMARY.search(line) or found  # progress lines come first, the total last
    if found is None:
        raise BenchError(f"could not read ProducerPerformance's summary from:\n{output[-2000:]}")
    return found.groupdict()


def _tool_args(
    topic: str, records: int, record_size: int, props: dict[str, str], servers: str
) -> list[str]:
    return [
        "--topic",
        topic,
        "--num-records",
        str(records),
        "--record-size",
        str(record_size),
        "--throughput",
        "-1",
        "--producer-props",
        f"bootstrap.servers={servers}",
        *(f"{k}={v}" for k, v in props.items()),
    ]


def _producer_performance(
    settings: Settings,
    topic: str,
    records: int,
    warmup: int,
    record_size: int,
    props: dict[str, str],
) -> tuple[list[str], str, float]:
    kafka = Kafka(settings)
    libs: Path = kafka.libs_dir
    if not any(libs.glob("kafka-tools-*.jar")):
        raise BenchError(f"no kafka-tools jar in {libs}: run `stack up kafka` to provision Kafka")
    servers = settings.kafka_bootstrap_servers
    measured = _tool_args(topic, records, record_size, props, servers)
    with tempfile.TemporaryDirectory(prefix="globalmart-bench-") as tmp:
        launcher = Path(tmp) / "WarmProducerPerformance.java"
        launcher.write_text(_WARM_LAUNCHER)
        head = [str(kafka._java()), "-Xmx512m", "-cp", f"{libs}/*"]
        if warmup:
            warm = _tool_args(topic, warmup, record_size, props, servers)
            command = [*head, str(launcher), *warm, "--", *measured]
        else:
            command = [*head, "org.apache.kafka.tools.ProducerPerformance", *measured]
        started = time.monotonic()
        result = subprocess.run(command, capture_output=True, text=True, timeout=900)
        seconds = time.monotonic() - started
    if result.returncode != 0:
        raise BenchError(
            f"ProducerPerformance failed ({result.returncode}): {result.stderr[-2000:]}"
        )
    return command, result.stdout, seconds
