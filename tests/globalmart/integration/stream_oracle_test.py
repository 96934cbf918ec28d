"""The 5 stream jobs against an independent oracle, exactly-once on replay, fresh-then-final.

One Spark session and one run of the dataset's three phases serve every test here (module
fixture): each phase is produced to private topics, then the jobs process it with
trigger=availableNow into a scratch Postgres schema. The tests then compare all 18 tables (and
the dead letters and alerts) with `stream_oracle`, and replay the last batch of every query.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from globalmart.core.settings import Settings
from globalmart.integration import stream_dataset
from globalmart.integration.stream_harness import (
    WINDOW_AND_EVENT_TABLES,
    Harness,
    drop_checkpoint_file,
    last_batch,
)
from globalmart.integration.stream_oracle import Oracle
from globalmart.stack.testing import unique_name
from globalmart.stream import runner
from globalmart.stream.registry_jobs import all_jobs
from globalmart.stream.sinks import sink
from globalmart.stream.writer import BatchReport


class Run:
    def __init__(
        self,
        harness: Harness,
        oracle: Oracle,
        checkpoints: Path,
        spark: Any,
        config: runner.StreamConfig,
    ) -> None:
        self.harness = harness
        self.oracle = oracle
        self.checkpoints = checkpoints
        self.spark = spark
        self.config = config
        self.after_phase: list[dict[str, list[dict[str, Any]]]] = []
        self.reports: list[BatchReport] = []
        self.started = datetime.now(UTC)


@pytest.fixture(scope="module")
def run(
    live_stack: Callable[..., Settings], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    settings = live_stack("kafka", "postgres-realtime", "apicurio", "spark")
    from globalmart.spark.session import get_spark

    dataset = stream_dataset.build()
    harness = Harness(settings, unique_name("gmstream"), dataset)
    harness.create()
    checkpoints = tmp_path_factory.mktemp("checkpoints")
    config = runner.StreamConfig(
        checkpoint_root=checkpoints, pg_schema=harness.schema, topics=harness.topics.topics
    )
    spark = get_spark("stream-oracle-test", shuffle_partitions=2)
    state = Run(harness, Oracle(dataset, harness.topics.topics), checkpoints, spark, config)
    jobs = list(all_jobs().values())
    live = runner.StreamConfig(**{**config.__dict__, "trigger": "1 second"})
    try:
        # the queries keep running across phases, like `stream start` (phases may be split into
        # several micro-batches: the dataset is built so that this does not change the result)
        queries = runner.start(spark, settings, live, jobs, on_commit=state.reports.append)
        try:
            for phase in dataset.phases:
                harness.produce(phase)
                runner.wait_caught_up(queries, settings, live, jobs)
                state.after_phase.append(harness.snapshot())
        finally:
            for query in queries:
                query.stop()
        yield state
    finally:
        harness.drop()


def test_every_table_matches_the_oracle(run: Run) -> None:
    problems = run.harness.compare(run.oracle)
    assert {t: p[:5] for t, p in problems.items() if p} == {}
    # the data exercises every table and both kinds of late data
    for table in WINDOW_AND_EVENT_TABLES:
        assert run.oracle.tables[table], f"the dataset produces no {table} row"
    assert all(run.oracle.dropped[job] > 0 for job in run.oracle.dropped), run.oracle.dropped


def test_windows_become_final_and_never_change_again(run: Run) -> None:
    final = run.after_phase[-1]
    for table in WINDOW_AND_EVENT_TABLES:
        spec = sink(table)
        if not spec.is_window:
            continue
        rows = {spec.key_of(r): r for r in final[table]}
        assert any(r["is_final"] for r in rows.values()), table
        for earlier in run.after_phase[:-1]:
            for r in earlier[table]:
                if r["is_final"]:
                    assert rows[spec.key_of(r)] == r, f"{table}: a final row changed"
        for r in rows.values():
            assert r["created_at"] <= r["updated_at"], table
            assert r["created_at"].tzinfo is not None
    # the flush's own windows stay open
    assert not all(r["is_final"] for r in final["sales_per_minute"])
    # an open window was updated by a later phase (fresh rows are upserted, not frozen)
    velocity = {
        sink("sales_per_minute").key_of(r): r for r in run.after_phase[0]["sales_per_minute"]
    }
    later = {sink("sales_per_minute").key_of(r): r for r in final["sales_per_minute"]}
    assert any(
        later[k]["transaction_count"] > v["transaction_count"]
        and later[k]["updated_at"] > v["updated_at"]
        for k, v in velocity.items()
    )


def test_event_tables_are_append_only(run: Run) -> None:
    for table in (
        "high_value_anomalies",
        "high_quantity_anomalies",
        "abandoned_carts",
        "alerts",
        "high_demand_alerts",
        "restock_alerts",
    ):
        spec = sink(table)
        first = {spec.key_of(r): r for r in run.after_phase[0][table]}
        last = {spec.key_of(r): r for r in run.after_phase[-1][table]}
        assert first, table
        for key, row in first.items():
            assert last[key] == row, f"{table} row {key} changed"


def test_alerts_are_deduplicated_with_severities(run: Run) -> None:
    alerts = run.harness.rows("alerts")
    severities = {a["severity"] for a in alerts}
    assert severities == {"info", "warning", "critical"}
    assert len({a["dedup_key"] for a in alerts}) == len(alerts)
    types = {a["alert_type"] for a in alerts}
    assert types == {
        "high_value_anomaly",
        "high_quantity_anomaly",
        "suspicious_pattern",
        "restock",
        "high_demand",
    }


def test_dead_letters_keep_the_raw_message(run: Run) -> None:
    rows = run.harness.rows("dead_letters")
    assert rows
    for r in rows:
        assert r["kafka_offset"] >= 0 and r["failed_at"].tzinfo is not None
    values = {bytes(r["value"]) if r["value"] is not None else None for r in rows}
    assert b"garbage!" in values and None in values


def test_processing_times_are_utc_and_recent(run: Run) -> None:
    for table in ("sales_per_minute", "high_value_anomalies", "alerts"):
        column = {
            "sales_per_minute": "created_at",
            "high_value_anomalies": "detected_at",
            "alerts": "alert_generated_at",
        }[table]
        for r in run.harness.rows(table):
            assert r[column].utcoffset().total_seconds() == 0 or r[column].tzinfo is not None
            assert run.started.replace(microsecond=0) <= r[column] <= datetime.now(UTC)


def test_replaying_the_last_batch_changes_nothing(run: Run) -> None:
    before = run.harness.snapshot()
    ledger_before = len(before["stream_batch_ledger"])
    jobs = list(all_jobs().values())
    # A crash after the last *data* batch wrote to Postgres but before Spark committed it:
    #    roll the checkpoint back to that batch (its offsets stay, so Spark re-runs it)
    for spec in jobs:
        checkpoint = run.config.checkpoint(spec)
        data_batch = max(r.batch_id for r in run.reports if r.query_name == spec.name and r.rows)
        for folder in ("offsets", "commits"):
            while last_batch(checkpoint / folder) > data_batch:
                drop_checkpoint_file(checkpoint / folder, last_batch(checkpoint / folder))
        drop_checkpoint_file(checkpoint / "commits", data_batch)
    reports: list[BatchReport] = []
    runner.run_available_now(
        run.spark, run.harness.settings, run.config, jobs, on_commit=reports.append
    )
    replayed = [r for r in reports if r.skipped]
    assert {r.query_name for r in replayed} == {j.name for j in jobs}
    after = run.harness.snapshot()
    assert {t: after[t] == before[t] for t in before if t != "stream_batch_ledger"} == {
        t: True for t in before if t != "stream_batch_ledger"
    }
    assert len(after["stream_batch_ledger"]) >= ledger_before
    assert run.harness.compare(run.oracle) == {t: [] for t in run.harness.compare(run.oracle)}


SPEC_QUERIES = [
    # the seed README's "Query PostgreSQL" section, verbatim
    "SELECT * FROM sales_per_minute ORDER BY window_start DESC LIMIT 10;",
    "SELECT * FROM high_value_anomalies ORDER BY detected_at DESC LIMIT 5;",
    "SELECT * FROM high_demand_alerts ORDER BY alert_generated_at DESC LIMIT 10;",
    "SELECT window_start, window_end, created_at FROM sales_per_minute LIMIT 5;",
]


def test_the_spec_s_example_queries_work_as_written(run: Run) -> None:
    import psycopg

    settings = run.harness.settings
    with psycopg.connect(settings.postgres_dsn("realtime", reader=False)) as conn:
        conn.execute(f'SET search_path TO "{run.harness.schema}"'.encode())
        for query in SPEC_QUERIES:
            rows = conn.execute(query.encode()).fetchall()
            assert rows, query
        first = conn.execute(SPEC_QUERIES[3].encode()).fetchone()
        assert first is not None and all(value.tzinfo is not None for value in first)
