"""Run jobs as streaming queries in one Spark session (one driver, several queries).

`start` builds each job's streaming DataFrame (Kafka -> decode -> job -> union) and starts it
with a Postgres foreachBatch writer and a checkpoint under <checkpoint_root>/<query>. Tests and
backfills use `run_available_now` (process what is in Kafka, then stop); `stream start` keeps
the queries running on a processing-time trigger (globalmart.stream.service).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyspark.errors import StreamingQueryException
from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery

from globalmart.core import offsets
from globalmart.core.settings import Settings
from globalmart.schemas.catalog import load_catalog
from globalmart.stack.base import StatePaths
from globalmart.stream import job as job_module
from globalmart.stream.decode import decode, fetch_writer_schemas
from globalmart.stream.job import JobSpec
from globalmart.stream.writer import BatchReport, PostgresBatchWriter, WriterIds, forget_ledger

log = logging.getLogger(__name__)

AVAILABLE_NOW = "available-now"
MAX_PLAN_STRING = 20_000


def default_checkpoint_root(settings: Settings) -> Path:
    return StatePaths(settings.globalmart_state_dir).data / "stream" / "checkpoints"


@dataclass
class StreamConfig:
    """Where a run reads and writes; the defaults are the real pipeline's."""

    checkpoint_root: Path
    pg_schema: str = "public"
    #: event schema name -> topic, to read other topics than the catalog's (tests, benches)
    topics: Mapping[str, str] = field(default_factory=dict)
    #: "available-now" or a processing-time interval such as "2 seconds"
    trigger: str = "2 seconds"
    max_offsets_per_trigger: int | None = None
    starting_offsets: str = "earliest"
    #: prefix of query names (and ledger keys); tests keep the real names
    query_prefix: str = ""

    def topic(self, source: str) -> str:
        if source in self.topics:
            return self.topics[source]
        topic = load_catalog().entry(source).latest.topic
        assert topic, f"{source} has no topic"
        return topic

    def query_name(self, spec: JobSpec) -> str:
        return f"{self.query_prefix}{spec.name}"

    def checkpoint(self, spec: JobSpec) -> Path:
        return self.checkpoint_root / self.query_name(spec)


def pin_utc() -> None:
    """The driver's local zone is UTC: pyspark hands out naive datetimes in the local zone."""
    os.environ["TZ"] = "UTC"
    time.tzset()


def start(
    spark: SparkSession,
    settings: Settings,
    config: StreamConfig,
    jobs: Sequence[JobSpec],
    on_commit: Callable[[BatchReport], None] | None = None,
) -> list[StreamingQuery]:
    pin_utc()
    queries = []
    for spec in jobs:
        queries.append(start_job(spark, settings, config, spec, on_commit))
    return queries


def start_job(
    spark: SparkSession,
    settings: Settings,
    config: StreamConfig,
    spec: JobSpec,
    on_commit: Callable[[BatchReport], None] | None = None,
) -> StreamingQuery:
    # The jobs' plans are large: unbounded plan strings in errors overflow the stack of Spark's
    # redaction regex and bury the message. Truncate them.
    spark.conf.set("spark.sql.maxPlanStringLength", str(MAX_PLAN_STRING))
    name = config.query_name(spec)
    topic = config.topic(spec.source)
    checkpoint = config.checkpoint(spec)
    dsn = settings.postgres_dsn("realtime")
    if not (checkpoint / "offsets").exists():
        # A new checkpoint restarts batch ids at 0: the old ledger rows would skip them.
        dropped = forget_ledger(dsn, config.pg_schema, name)
        if dropped:
            log.info("%s: new checkpoint, forgot %d ledger rows", name, dropped)
    subject = f"{topic}-value"
    writers = fetch_writer_schemas(settings, subject)
    reader = load_catalog().entry(spec.source).latest
    source = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.kafka_bootstrap_servers)
        .option("subscribe", topic)
        .option("startingOffsets", config.starting_offsets)
        .option("failOnDataLoss", "false")
    )
    if config.max_offsets_per_trigger:
        source = source.option("maxOffsetsPerTrigger", str(config.max_offsets_per_trigger))
    frame = job_module.build(decode(source.load(), writers, reader), spec, name)
    writer = PostgresBatchWriter(
        dsn,
        name,
        spec.outputs,
        checkpoint,
        pg_schema=config.pg_schema,
        on_commit=on_commit,
        writer_ids=WriterIds(
            subject,
            frozenset(writers.by_id),
            lambda: set(fetch_writer_schemas(settings, subject).by_id),
        ),
    )
    stream = (
        frame.writeStream.queryName(name)
        .outputMode("update")
        .option("checkpointLocation", str(checkpoint))
        .foreachBatch(writer)
    )
    if config.trigger == AVAILABLE_NOW:
        stream = stream.trigger(availableNow=True)
    else:
        stream = stream.trigger(processingTime=config.trigger)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    query = stream.start()
    log.info("started %s on %s (schema ids %s)", name, topic, sorted(writers.by_id))
    return query


def run_available_now(
    spark: SparkSession,
    settings: Settings,
    config: StreamConfig,
    jobs: Sequence[JobSpec],
    timeout: float = 600.0,
    on_commit: Callable[[BatchReport], None] | None = None,
    restarts: int = 2,
) -> list[StreamingQuery]:
    """Process everything currently in the topics, then stop; raises the first query failure
    left after `restarts` restarts from the checkpoint (what the service's supervisor does too:
    e.g. Spark 4.1's Kafka source fails its progress report after re-running a batch whose
    commit was lost, once the batch itself has committed)."""
    run_config = StreamConfig(**{**config.__dict__, "trigger": AVAILABLE_NOW})
    pin_utc()
    deadline = time.monotonic() + timeout
    pending = {
        spec.name: (spec, start_job(spark, settings, run_config, spec, on_commit)) for spec in jobs
    }
    finished: list[StreamingQuery] = []
    tries = {name: 0 for name in pending}
    try:
        while pending:
            name, (spec, query) = next(iter(pending.items()))
            remaining = max(1, int(deadline - time.monotonic()))
            try:
                if not query.awaitTermination(remaining):
                    raise TimeoutError(f"{query.name} did not finish within {timeout:.0f}s")
            except StreamingQueryException:
                pass  # read below through query.exception()
            error = query.exception()
            if error is None:
                finished.append(query)
                del pending[name]
                continue
            if tries[name] >= restarts:
                raise RuntimeError(f"{query.name} failed: {error}")
            tries[name] += 1
            log.warning("%s failed (%s); restarting from its checkpoint", name, str(error)[:200])
            pending[name] = (spec, start_job(spark, settings, run_config, spec, on_commit))
    finally:
        for _spec, query in pending.values():
            if query.isActive:
                query.stop()
    return finished


def kafka_end_offsets(settings: Settings, topic: str) -> int:
    """Records in `topic` so far (sum of the partitions' high watermarks)."""
    return offsets.end_offsets(settings.kafka_bootstrap_servers, [topic])[topic]


def committed(checkpoint: Path) -> tuple[int | None, int]:
    """(last committed batch id, records processed through it) from a query's checkpoint: what
    is done even when the running query has reported no progress yet (e.g. just restarted)."""
    commits = checkpoint / "commits"
    ids = [int(p.name) for p in commits.iterdir() if p.name.isdigit()] if commits.exists() else []
    if not ids:
        return None, 0
    last = max(ids)
    try:
        lines = (checkpoint / "offsets" / str(last)).read_text().splitlines()
    except OSError:
        return last, 0
    # v1, batch metadata, then one line per source (the same topic twice: a job's plan reads
    # its topic in two branches)
    return last, _records([json.loads(line) for line in lines[2:] if line.strip().startswith("{")])


def _records(sources: list[Any]) -> int:
    """Sum of offsets over distinct topic-partitions (max where a topic is read twice)."""
    merged: dict[tuple[str, str], int] = {}
    for source in sources:
        if isinstance(source, str):
            source = json.loads(source)
        for topic, partitions in (source or {}).items():
            for partition, offset in partitions.items():
                key = (topic, str(partition))
                merged[key] = max(merged.get(key, 0), int(offset))
    return sum(merged.values())


def consumed(progress: Mapping[str, Any] | None) -> int:
    """Records a query has processed: the end offsets of its last progress, summed."""
    sources: list[dict[str, Any]] = list((progress or {}).get("sources") or [])
    return _records([source.get("endOffset") for source in sources])


def wait_caught_up(
    queries: Sequence[StreamingQuery],
    settings: Settings,
    config: StreamConfig,
    jobs: Sequence[JobSpec],
    timeout: float = 300.0,
    quiet_seconds: float = 3.0,
) -> None:
    """Until every running query has processed its topic's current end and made no progress for
    `quiet_seconds` (so the no-data batch that moves the watermark has run as well)."""
    by_name = {config.query_name(spec): config.topic(spec.source) for spec in jobs}
    deadline = time.monotonic() + timeout
    last: dict[str, object] = {}
    still_since = time.monotonic()
    while time.monotonic() < deadline:
        for query in queries:
            if not query.isActive and query.exception() is not None:
                raise RuntimeError(f"{query.name} failed: {query.exception()}")
        ends = {topic: kafka_end_offsets(settings, topic) for topic in set(by_name.values())}
        done = {name: committed(config.checkpoint_root / name) for name in by_name}
        batches: dict[str, object] = {name: batch for name, (batch, _) in done.items()}
        if batches != last:
            last, still_since = batches, time.monotonic()
        behind = [name for name, (_, records) in done.items() if records < ends[by_name[name]]]
        busy = [q.name for q in queries if q.status.get("isTriggerActive")]
        if not behind and not busy and time.monotonic() - still_since >= quiet_seconds:
            return
        time.sleep(0.5)
    raise TimeoutError(f"queries not caught up within {timeout:.0f}s")
