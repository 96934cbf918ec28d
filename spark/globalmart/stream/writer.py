"""Exactly-once into PostgreSQL: one transaction per micro-batch, with a ledger row.

Spark's foreachBatch is at-least-once: after a crash the last batch runs again with the same
offsets. Each batch therefore writes, in ONE transaction:

1. a `stream_batch_ledger` row (query_name, batch_id) — if it already exists the batch committed
   before and is skipped entirely, so a replay changes nothing (not even processing times);
2. the batch's rows, deduplicated on each table's natural key, with `INSERT ... ON CONFLICT`:
   window rows are updated while open and never once final, event rows are insert-once;
3. `is_final = true` on every window row whose end the batch's watermark has passed (Spark has
   evicted that window's state, so the row cannot change any more).

The batch's watermark and timestamp are read from the query's offset log (written by Spark before
the batch runs), so they are the ones Spark used, also on a replay. New alerts are handed to the
alert dispatcher only after the commit.

A query decodes the writer schemas registered when it started. A message whose schema id was
registered under the topic's subject since then is not dead-lettered: the batch fails before it
writes anything (NewWriterSchema), the supervisor restarts the query, which fetches the writer
schemas again, and the same batch runs again and decodes it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from pyspark.sql import DataFrame

from globalmart.stream.decode import HEADER_BYTES, UNKNOWN_SCHEMA
from globalmart.stream.job import check_output
from globalmart.stream.sinks import ALERTS, DEAD_LETTERS, LEDGER, PROCESSING_TIME_COLUMNS, sink

log = logging.getLogger(__name__)


@dataclass
class BatchReport:
    query_name: str
    batch_id: int
    skipped: bool
    rows: dict[str, int] = field(default_factory=dict)
    finalized: int = 0
    watermark: datetime | None = None
    seconds: float = 0.0
    #: of which: running the batch's Spark job and collecting its rows
    collect_seconds: float = 0.0
    new_alerts: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class BatchMeta:
    watermark_ms: int
    timestamp_ms: int


class NewWriterSchema(RuntimeError):
    """A batch holds messages of a writer schema registered after its query started."""


@dataclass(frozen=True)
class WriterIds:
    """The schema ids a query decodes, and how to ask the registry which ids its subject has now."""

    subject: str
    known: frozenset[int]
    registered: Callable[[], set[int]]


def unknown_ids(dead_letters: Sequence[dict[str, Any]]) -> set[int]:
    """The schema ids of the messages dead-lettered as of an unknown schema."""
    return {
        int.from_bytes(r["value"][1:HEADER_BYTES], "big")
        for r in dead_letters
        if r.get("error_type") == UNKNOWN_SCHEMA and len(r.get("value") or b"") >= HEADER_BYTES
    }


def read_batch_meta(checkpoint: Path, batch_id: int) -> BatchMeta | None:
    """The watermark and timestamp Spark recorded for `batch_id` in the offset log."""
    try:
        lines = (checkpoint / "offsets" / str(batch_id)).read_text().splitlines()
        meta = json.loads(lines[1])
        return BatchMeta(int(meta.get("batchWatermarkMs", 0)), int(meta["batchTimestampMs"]))
    except (OSError, IndexError, KeyError, ValueError):
        return None


def _utc(value: datetime) -> datetime:
    # pyspark returns naive datetimes in the driver's local zone (the runner pins TZ=UTC).
    return value.astimezone(UTC) if value.tzinfo is None else value


def to_db(value: Any) -> Any:
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, dict):
        return json.dumps({str(k): v for k, v in sorted(value.items())})
    if isinstance(value, bytearray):
        return bytes(value)
    return value


def _millis(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


class PostgresBatchWriter:
    """The foreachBatch function of one query."""

    def __init__(
        self,
        dsn: str,
        query_name: str,
        outputs: Sequence[str],
        checkpoint: Path,
        pg_schema: str = "public",
        on_commit: Callable[[BatchReport], None] | None = None,
        writer_ids: WriterIds | None = None,
    ) -> None:
        self.dsn = dsn
        self.writer_ids = writer_ids
        self.query_name = query_name
        self.outputs = tuple(outputs)
        self.checkpoint = checkpoint
        self.pg_schema = pg_schema
        self.on_commit = on_commit
        self._conn: psycopg.Connection[Any] | None = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self.dsn, connect_timeout=10)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __call__(self, df: DataFrame, batch_id: int) -> None:
        started = time.monotonic()
        check_output(df, self.outputs)
        rows = df.collect()
        collected = time.monotonic() - started
        meta = read_batch_meta(self.checkpoint, batch_id)
        batch_time = _millis(meta.timestamp_ms) if meta else datetime.now(UTC)
        by_table = self.split(rows, batch_time)
        self.refuse_new_writer_schemas(by_table.get(DEAD_LETTERS, []))
        try:
            report = self.write(batch_id, by_table, meta)
        except psycopg.OperationalError:
            # A dropped connection: reconnect once; the transaction rolled back as a whole.
            self.close()
            report = self.write(batch_id, by_table, meta)
        report.seconds = time.monotonic() - started
        report.collect_seconds = collected
        if self.on_commit is not None:
            self.on_commit(report)

    def refuse_new_writer_schemas(self, dead_letters: Sequence[dict[str, Any]]) -> None:
        """Raise NewWriterSchema when an id dead-lettered as unknown is now registered under the
        subject. Ids of other subjects, and a registry that does not answer, change nothing:
        those messages are dead-lettered (with their bytes) as before."""
        ids = self.writer_ids
        unknown = unknown_ids(dead_letters) - ids.known if ids is not None else set()
        if ids is None or not unknown:
            return
        try:
            new = sorted(unknown & ids.registered())
        except Exception as error:  # noqa: BLE001 - cannot tell: keep the dead letters
            log.warning(
                "%s: could not ask the registry about ids %s: %s",
                self.query_name,
                sorted(unknown),
                error,
            )
            return
        if new:
            raise NewWriterSchema(
                f"{self.query_name}: schema id(s) {new} were registered under {ids.subject} "
                "after the query started; restarting it to decode them (this batch is not "
                "committed and runs again)"
            )

    def split(
        self, rows: Sequence[Any], batch_time: datetime | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        """Rows per table, deduplicated on the natural key (the last one wins), processing-time
        columns set to the batch's timestamp (the same on a replay)."""
        batch_time = batch_time or datetime.now(UTC)
        by_table: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {t: {} for t in self.outputs}
        for spark_row in rows:
            for table in self.outputs:
                value = spark_row[table]
                if value is None:
                    continue
                record = {k: to_db(v) for k, v in value.asDict(recursive=False).items()}
                for column in PROCESSING_TIME_COLUMNS:
                    if column in record and record[column] is None:
                        record[column] = batch_time
                by_table[table][sink(table).key_of(record)] = record
        return {t: list(found.values()) for t, found in by_table.items()}

    def write(
        self, batch_id: int, by_table: dict[str, list[dict[str, Any]]], meta: BatchMeta | None
    ) -> BatchReport:
        report = BatchReport(self.query_name, batch_id, skipped=False)
        now = _millis(meta.timestamp_ms) if meta else datetime.now(UTC)
        conn = self._connection()
        schema = self.pg_schema
        with conn.transaction():
            with conn.cursor() as cur:
                cur.execute(
                    f'INSERT INTO "{schema}".{LEDGER} '
                    "(query_name, batch_id, tables, rows_written, committed_at) "
                    "VALUES (%s, %s, %s, 0, %s) ON CONFLICT DO NOTHING RETURNING batch_id",
                    (self.query_name, batch_id, list(self.outputs), now),
                )
                if cur.fetchone() is None:
                    report.skipped = True
                    return report
                for table, records in by_table.items():
                    if not records:
                        continue
                    target = sink(table)
                    params = [tuple(r[c] for c in target.columns) for r in records]
                    sql = target.upsert_sql(schema)
                    if table == ALERTS:
                        cur.executemany(sql + " RETURNING dedup_key", params, returning=True)
                        fresh = set()
                        while True:
                            found = cur.fetchone()
                            if found is not None:
                                fresh.add(found[0])
                            if not cur.nextset():
                                break
                        report.new_alerts = [r for r in records if r["dedup_key"] in fresh]
                    else:
                        cur.executemany(sql, params)
                    report.rows[table] = len(records)
                if meta is not None and meta.watermark_ms > 0:
                    report.watermark = _millis(meta.watermark_ms)
                    for table in self.outputs:
                        if sink(table).is_window:
                            cur.execute(sink(table).finalize_sql(schema), (now, report.watermark))
                            report.finalized += max(cur.rowcount, 0)
                cur.execute(
                    f'UPDATE "{schema}".{LEDGER} SET rows_written = %s '
                    "WHERE query_name = %s AND batch_id = %s",
                    (sum(report.rows.values()), self.query_name, batch_id),
                )
        return report


def forget_ledger(dsn: str, pg_schema: str, query_name: str) -> int:
    """Drop a query's ledger rows: called when its checkpoint is new (batch ids restart at 0)."""
    with psycopg.connect(dsn, connect_timeout=10) as conn:
        cur = conn.execute(
            f'DELETE FROM "{pg_schema}".{LEDGER} WHERE query_name = %s', (query_name,)
        )
        return max(cur.rowcount, 0)
