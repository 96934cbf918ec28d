"""Reconcile the day's warehouse revenue with the real-time database's (sales_per_minute).

The archive is the source of truth for the warehouse; the stream's real-time tables saw the same
events live, minus what arrived after its watermark. A large gap means lost or late events on
one side: the run record shows it instead of failing the batch.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import psycopg

from globalmart.warehouse import pg
from globalmart.warehouse.etl import Target


def reconcile(target: Target, day: date) -> dict[str, Any]:
    start = datetime.combine(day, time(0), UTC)
    key = day.year * 10_000 + day.month * 100 + day.day
    with pg.connect(target.settings, target.schema) as conn:
        rows = pg.fetch_rows(
            conn,
            "SELECT coalesce(sum(line_amount), 0), "
            "count(DISTINCT transaction_id) FROM fact_sales "
            "WHERE date_key = %s",
            [key],
        )
    warehouse_revenue, warehouse_orders = rows[0]
    result: dict[str, Any] = {
        "warehouse_revenue": str(warehouse_revenue),
        "warehouse_orders": int(warehouse_orders),
    }
    try:
        with psycopg.connect(target.settings.postgres_dsn("realtime"), connect_timeout=5) as rt:
            found: Any = rt.execute(
                "SELECT sum(total_revenue), sum(transaction_count) FROM sales_per_minute "
                "WHERE window_start >= %s AND window_start < %s",
                (start, start + timedelta(days=1)),
            ).fetchone()
    except psycopg.Error as error:
        result["realtime"] = f"unavailable: {str(error).splitlines()[0]}"
        return result
    realtime_revenue, realtime_orders = found
    if realtime_revenue is None:
        result["realtime"] = "no real-time rows for the day"
        return result
    result.update(realtime_revenue=str(realtime_revenue), realtime_orders=int(realtime_orders))
    if realtime_revenue:
        gap = (Decimal(warehouse_revenue) - realtime_revenue) / realtime_revenue * 100
        result["revenue_gap_pct"] = round(float(gap), 3)
    return result
