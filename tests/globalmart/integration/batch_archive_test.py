"""The raw event archive against the real broker, registry, Spark and PostgreSQL: every produced
event lands once in Parquet under its event date, bad messages are dead-lettered with a reason, a
replayed batch does not duplicate anything."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from globalmart.core.settings import Settings
from globalmart.spark.session import get_spark
from globalmart.stack.testing import unique_name
from globalmart.warehouse import kafka_seed, seed
from globalmart.warehouse.archive import archive_available_now
from globalmart.warehouse.layout import checkpoint_dir

DAY = date(2026, 3, 1)


@pytest.fixture(scope="module")
def spark(live_stack: Callable[..., Settings]) -> Iterator[SparkSession]:
    live_stack("spark")
    session = get_spark("batch-archive-test")
    yield session
    session.stop()


def _archived(base: Path, event_type: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for file in sorted((base / event_type).glob("event_date=*/*.parquet")):
        day = file.parent.name.split("=", 1)[1]
        found.setdefault(day, []).extend(pq.read_table(file).column("event_id").to_pylist())
    return found


def test_archive_exactly_once_with_dead_letters(
    live_stack: Callable[..., Settings], spark: SparkSession, tmp_path: Path
) -> None:
    settings = live_stack("kafka", "apicurio", "postgres-realtime")
    data = seed.generate(7, DAY, 2, 6)
    topics = {unique_name(f"arch-{t.replace('_', '-')}"): t for t in data.events}
    kafka_seed.create_topics(settings, list(topics))
    query = unique_name("archive_test")
    try:
        # Two rounds, two micro-batches: day 1 (plus bad messages), then day 2.
        for round_day in (DAY, DAY + timedelta(days=1)):
            for topic, event_type in topics.items():
                todays = [e for e in data.events[event_type] if e["event_time"].date() == round_day]
                kafka_seed.produce(settings, topic, kafka_seed.framed(settings, event_type, todays))
            if round_day == DAY:
                tx_topic = next(t for t, e in topics.items() if e == "transaction")
                bad = [b"\x01not avro", b"\x00" + struct.pack(">I", 999_999) + b"\x02", b"\x00\x00"]
                kafka_seed.produce(settings, tx_topic, bad)
            archive_available_now(spark, settings, topics, str(tmp_path), query_name=query)

        for event_type, events in data.events.items():
            expected: dict[str, list[str]] = {}
            for day, day_events in seed.by_day(events):
                expected[day.isoformat()] = sorted(e["event_id"] for e in day_events)
            got = {d: sorted(ids) for d, ids in _archived(tmp_path, event_type).items()}
            assert got == expected, event_type

        sample = data.events["transaction"][0]
        table = pq.read_table(next((tmp_path / "transaction").glob("event_date=*/*.parquet")))
        rows = {r["event_id"]: r for r in table.to_pylist()}
        first = rows.get(sample["event_id"]) or next(
            r
            for f in (tmp_path / "transaction").glob("*/*.parquet")
            for r in pq.read_table(f).to_pylist()
            if r["event_id"] == sample["event_id"]
        )
        assert first["total_amount"] == sample["total_amount"]
        assert first["items"][0]["line_amount"] == sample["items"][0]["line_amount"]
        assert first["event_time"].replace(tzinfo=None) == sample["event_time"].replace(tzinfo=None)

        with psycopg.connect(settings.postgres_dsn("realtime")) as conn:
            reasons = [
                r[0]
                for r in conn.execute(
                    "SELECT reason FROM dead_letters WHERE failed_by = %s ORDER BY kafka_offset",
                    (query,),
                ).fetchall()
            ]
        assert reasons == [
            "no Confluent header: magic byte 0x01",
            "unknown schema id 999999",
            "shorter than the 5-byte Confluent header",
        ]

        # Replay the last micro-batch (as after a crash before its commit): no duplicates.
        commits = sorted(
            (Path(checkpoint_dir(str(tmp_path), query)) / "commits").iterdir(),
            key=lambda p: int(p.name) if p.name.isdigit() else -1,
        )
        last = commits[-1]
        last.unlink()
        (last.parent / f".{last.name}.crc").unlink(missing_ok=True)
        archive_available_now(spark, settings, topics, str(tmp_path), query_name=query)
        total = sum(len(v) for v in _archived(tmp_path, "transaction").values())
        assert total == len(data.events["transaction"])
        with psycopg.connect(settings.postgres_dsn("realtime")) as conn:
            count = conn.execute(
                "SELECT count(*) FROM dead_letters WHERE failed_by = %s", (query,)
            ).fetchone()
        assert count == (3,)
    finally:
        kafka_seed.delete_topics(settings, list(topics))
