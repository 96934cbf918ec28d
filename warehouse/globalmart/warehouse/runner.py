"""Run the nightly batch for a day or a range of days, recording every job in the run log.

Order per day: ETL (reference snapshot, dimensions, facts, daily snapshot; then the day's revenue
reconciled with the real-time sales_per_minute table, kept in the run record) -> RFM -> product
performance -> sales trends -> sales history (weekly, monthly) -> BI views. Each job writes its
slice in its own transactions, so a failed job leaves the earlier ones' results in place and a
re-run replaces them. Every job's outcome (status, rows,
duration, error) goes to the `batch_runs` collection of the MongoDB-wire store.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from pyspark.sql import SparkSession

from globalmart.core.runlog import BATCH_RUNS, record_quietly
from globalmart.core.settings import Settings
from globalmart.schemas.ddl import apply_ddl
from globalmart.warehouse import pg
from globalmart.warehouse.etl import Target, run_etl
from globalmart.warehouse.layout import archive_root, days, reference_root
from globalmart.warehouse.product_performance import run_product_performance
from globalmart.warehouse.reconcile import reconcile
from globalmart.warehouse.rfm import run_rfm
from globalmart.warehouse.sales_history import run_sales_history
from globalmart.warehouse.sales_trends import run_sales_trends
from globalmart.warehouse.views import create_views

log = logging.getLogger(__name__)

Job = Callable[[SparkSession, Target, date], dict[str, int]]
JOBS: dict[str, Job] = {
    "etl": run_etl,
    "rfm": run_rfm,
    "product_performance": run_product_performance,
    "sales_trends": run_sales_trends,
    "sales_history": run_sales_history,
}


def default_target(settings: Settings) -> Target:
    return Target(settings, archive_root(settings), reference_root(settings))


def prepare(target: Target) -> None:
    """Tables exist with every column of the latest schemas (idempotent, additive)."""
    if target.schema == pg.PUBLIC:
        apply_ddl(target.settings, "warehouse")
    else:
        pg.ensure_schema(target.settings, target.schema)


def run_day(
    spark: SparkSession,
    target: Target,
    day: date,
    jobs: Sequence[str] = tuple(JOBS),
    run_id: str | None = None,
) -> list[dict[str, Any]]:
    """Run `jobs` for `day`; returns one record per job (also stored in batch_runs). Raises the
    first job's error after recording it."""
    run_id = run_id or uuid.uuid4().hex[:12]
    records = []
    for name in jobs:
        started = datetime.now(UTC)
        clock = time.monotonic()
        record: dict[str, Any] = {
            "run_id": run_id,
            "job": name,
            "date": day.isoformat(),
            "schema": target.schema,
            "started_at": started,
        }
        try:
            rows = JOBS[name](spark, target, day)
            record.update(status="ok", rows=rows, row_total=sum(rows.values()))
            if name == "etl":
                record["reconciliation"] = reconcile(target, day)
        except Exception as error:
            record.update(status="failed", error=f"{type(error).__name__}: {error}"[:2000])
            raise
        finally:
            record["duration_s"] = round(time.monotonic() - clock, 3)
            record["finished_at"] = datetime.now(UTC)
            records.append(record)
            if not record_quietly(target.settings, BATCH_RUNS, record):
                log.warning("batch run %s/%s not recorded: metrics store unreachable", run_id, name)
    create_views(target.settings, target.schema)
    return records


def run_range(
    spark: SparkSession,
    target: Target,
    first: date,
    last: date,
    jobs: Sequence[str] = tuple(JOBS),
    on_job: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Backfill first..last in date order (the lookback jobs see the earlier days)."""
    prepare(target)
    run_id = uuid.uuid4().hex[:12]
    records: list[dict[str, Any]] = []
    for day in days(first, last):
        done = run_day(spark, target, day, jobs, run_id)
        records.extend(done)
        for record in done:
            if on_job is not None:
                on_job(record)
    return records
