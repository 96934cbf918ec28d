"""Pipeline health for the dashboard: is each stream query committing, and how far behind is it?

A public summary (no payloads, no keys needed), built from what the stream queries leave behind:

- `stream_batch_ledger` (PostgreSQL): per query its last committed batch, when, which tables it
  wrote, and the batches and rows of the last `RECENT` minutes;
- `stream_progress` (run-metrics store, MongoDB wire): per query its latest Spark progress report:
  event-time watermark (so the event-time lag), input rate and rows dropped as late;
- `dead_letters` (PostgreSQL): how many messages were rejected in the last hour.

The run-metrics store is optional: when it does not answer, the ledger part is still served and
`progress_store` says why the rest is missing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from psycopg import sql

from globalmart.core.runlog import STREAM_PROGRESS, RunLog
from globalmart.core.settings import Settings
from globalmart.gateway.db import Database
from globalmart.gateway.encode import iso_utc

RECENT = timedelta(minutes=10)
DEAD_LETTER_WINDOW = timedelta(hours=1)
PROGRESS_TIMEOUT_MS = 1500

# Distinct query names by a loose index scan of the ledger's primary key (query_name, batch_id),
# then each query's newest batch through the same index: cheap however long the ledger gets.
_LAST_BATCHES = sql.SQL(
    """
    WITH RECURSIVE names(query_name) AS (
        (SELECT query_name FROM stream_batch_ledger ORDER BY query_name LIMIT 1)
        UNION ALL
        SELECT (SELECT l.query_name FROM stream_batch_ledger l
                WHERE l.query_name > n.query_name ORDER BY l.query_name LIMIT 1)
        FROM names n WHERE n.query_name IS NOT NULL
    )
    SELECT last.query_name, last.batch_id, last.tables, last.rows_written, last.committed_at
    FROM names n
    CROSS JOIN LATERAL (
        SELECT * FROM stream_batch_ledger l WHERE l.query_name = n.query_name
        ORDER BY l.batch_id DESC LIMIT 1
    ) AS last
    ORDER BY last.query_name
    """
)
_RECENT_BATCHES = sql.SQL(
    "SELECT query_name, count(*), coalesce(sum(rows_written), 0) FROM stream_batch_ledger "
    "WHERE committed_at >= %s GROUP BY query_name"
)
_DEAD_LETTERS = sql.SQL("SELECT count(*) FROM dead_letters WHERE failed_at >= %s")


def _parse_time(value: Any) -> datetime | None:
    """Spark writes times as ISO strings with `Z`; the store may hand back datetimes."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def summarize(
    now: datetime,
    last_batches: Sequence[Sequence[Any]],
    recent: Sequence[Sequence[Any]],
    progress: Mapping[str, Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """One entry per stream query (ledger and progress joined on the query name)."""
    counts = {row[0]: (int(row[1]), int(row[2])) for row in recent}
    names = sorted({row[0] for row in last_batches} | set(progress))
    by_name = {row[0]: row for row in last_batches}
    out: list[dict[str, Any]] = []
    for name in names:
        entry: dict[str, Any] = {
            "query_name": name,
            "tables": [],
            "last_batch_id": None,
            "last_commit_at": None,
            "seconds_since_commit": None,
            "batches_recent": counts.get(name, (0, 0))[0],
            "rows_recent": counts.get(name, (0, 0))[1],
            "watermark": None,
            "event_time_lag_seconds": None,
            "input_rows_per_second": None,
            "rows_dropped_by_watermark": None,
            "progress_at": None,
        }
        row = by_name.get(name)
        if row is not None:
            _, batch_id, tables, _rows, committed_at = row
            entry.update(
                tables=list(tables or []),
                last_batch_id=int(batch_id),
                last_commit_at=iso_utc(committed_at),
                seconds_since_commit=round(max(0.0, (now - committed_at).total_seconds()), 1),
            )
        report = progress.get(name)
        if report is not None:
            watermark = _parse_time(report.get("watermark"))
            # Spark reports the epoch as watermark until the first event arrives: no lag yet.
            if watermark is not None and watermark.year > 1970:
                entry["watermark"] = iso_utc(watermark)
                entry["event_time_lag_seconds"] = round((now - watermark).total_seconds(), 1)
            rate = report.get("input_rows_per_second")
            entry["input_rows_per_second"] = float(rate) if rate is not None else None
            dropped = report.get("rows_dropped_by_watermark")
            entry["rows_dropped_by_watermark"] = int(dropped) if dropped is not None else None
            at = _parse_time(report.get("timestamp")) or _parse_time(report.get("recorded_at"))
            entry["progress_at"] = iso_utc(at) if at else None
        out.append(entry)
    return out


def _latest_progress(settings: Settings, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Newest stream_progress document per query (blocking: run it in a thread)."""
    with RunLog(settings, timeout_ms=PROGRESS_TIMEOUT_MS) as runlog:
        if not names:
            # No ledger rows yet: still show queries that report progress (e.g. idle ones).
            names = sorted(
                {d["query"] for d in runlog.latest(STREAM_PROGRESS, 200) if "query" in d}
            )
        found: dict[str, dict[str, Any]] = {}
        for name in names:
            docs = runlog.latest(STREAM_PROGRESS, 1, where={"query": name})
            if docs:
                found[name] = docs[0]
        return found


async def pipeline_health(db: Database, settings: Settings) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    last_batches = await db.fetch("realtime", _LAST_BATCHES)
    recent = await db.fetch("realtime", _RECENT_BATCHES, [now - RECENT])
    dead = await db.fetch("realtime", _DEAD_LETTERS, [now - DEAD_LETTER_WINDOW])
    store: dict[str, Any] = {"ok": True}
    progress: dict[str, dict[str, Any]] = {}
    try:
        progress = await asyncio.wait_for(
            asyncio.to_thread(_latest_progress, settings, [row[0] for row in last_batches]),
            timeout=PROGRESS_TIMEOUT_MS / 1000 * 3,
        )
    except Exception as exc:  # the store is optional: say why, serve the rest
        store = {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    return {
        "generated_at": iso_utc(now),
        "recent_minutes": int(RECENT.total_seconds() // 60),
        "queries": summarize(now, last_batches, recent, progress),
        "dead_letters_last_hour": int(dead[0][0]) if dead else 0,
        "progress_store": store,
    }
