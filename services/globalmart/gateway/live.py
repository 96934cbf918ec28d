"""Live updates: new alerts and the latest metric windows, pushed to every subscriber.

One poller per gateway process (started with the first subscriber, stopped with the last) reads
PostgreSQL every `live_poll_seconds` and fans out to subscriber queues, so a hundred dashboards
cost the database one query per table per interval. Server-Sent Events (`/api/v1/live/...`) and
GraphQL subscriptions both read from here.

Alerts are found by `alert_generated_at` with a look-back window and de-duplicated on their
natural key `dedup_key`: a transaction that commits late with an earlier timestamp is still seen.
A subscriber may ask for the alerts since a time first (`since`), then gets the live tail.
Metrics: the newest row of each table in `METRIC_TABLES`, sent whenever it changes (and at once
to a new subscriber).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

from psycopg import sql

from globalmart.gateway.db import Database, DatabaseUnavailable
from globalmart.gateway.encode import row_encoder
from globalmart.gateway.tables import TableSpec

log = logging.getLogger(__name__)

ALERTS = "alerts"
METRIC_TABLES = ("sales_per_minute", "anomaly_stats")
LOOKBACK = timedelta(minutes=2)
BACKLOG_LIMIT = 200
QUEUE_SIZE = 1000
SEEN_LIMIT = 20_000


class LiveFeed:
    def __init__(self, db: Database, specs: dict[str, TableSpec], poll_seconds: float) -> None:
        self.db = db
        self.specs = specs
        self.poll_seconds = poll_seconds
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {
            "alerts": set(),
            "metrics": set(),
        }
        self._task: asyncio.Task[None] | None = None
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._primed = False
        self._latest: dict[str, dict[str, Any]] = {}
        self._encode = {name: row_encoder(specs[name]) for name in (ALERTS, *METRIC_TABLES)}

    @property
    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subscribers.values())

    async def subscribe(
        self, topic: str, since: datetime | None = None, heartbeat: float | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Events of `topic` (`alerts` or `metrics`) until the consumer stops iterating; with
        `heartbeat`, a `{"type": "heartbeat"}` event after that many idle seconds."""
        if topic not in self._subscribers:
            raise ValueError(f"unknown live topic {topic!r}")
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=QUEUE_SIZE)
        if not self._primed:
            # Remember the alerts that exist now, so only later ones count as new.
            await self._prime()
        self._subscribers[topic].add(queue)
        self._ensure_running()
        try:
            if topic == "alerts" and since is not None:
                for row in await self._alerts_since(since, limit=BACKLOG_LIMIT):
                    yield {"type": "alert", "table": ALERTS, "data": row}
            if topic == "metrics":
                for table, row in list(self._latest.items()):
                    yield {"type": "metric", "table": table, "data": row}
            while True:
                try:
                    yield await asyncio.wait_for(queue.get(), timeout=heartbeat)
                except asyncio.TimeoutError:
                    yield {"type": "heartbeat"}
        finally:
            self._subscribers[topic].discard(queue)

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="gateway-live-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None

    async def _run(self) -> None:
        while self.subscriber_count:
            try:
                await self.poll_once()
            except DatabaseUnavailable as exc:
                log.warning("live feed: %s", exc)
            await asyncio.sleep(self.poll_seconds)

    async def _prime(self) -> None:
        for row in await self._recent_alerts():
            self._remember(row["dedup_key"])
        self._primed = True

    def _remember(self, key: str) -> bool:
        """True when `key` is new."""
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > SEEN_LIMIT:
            self._seen.popitem(last=False)
        return True

    async def _recent_alerts(self) -> list[dict[str, Any]]:
        return await self._alerts_since(datetime.now(timezone.utc) - LOOKBACK, limit=5000)

    async def poll_once(self) -> None:
        if not self._primed:
            await self._prime()
        for row in await self._recent_alerts():
            if self._remember(row["dedup_key"]):
                self._publish("alerts", {"type": "alert", "table": ALERTS, "data": row})
        for table in METRIC_TABLES:
            latest = await self._latest_row(table)
            if latest is not None and latest != self._latest.get(table):
                self._latest[table] = latest
                self._publish("metrics", {"type": "metric", "table": table, "data": latest})

    def _publish(self, topic: str, event: dict[str, Any]) -> None:
        for queue in list(self._subscribers[topic]):
            if queue.full():  # a slow consumer loses its oldest events, never blocks the others
                queue.get_nowait()
            queue.put_nowait(event)

    async def _alerts_since(self, since: datetime, limit: int) -> list[dict[str, Any]]:
        spec = self.specs[ALERTS]
        statement = sql.SQL(
            "SELECT {cols} FROM {table} WHERE {time} >= %s ORDER BY {time}, {key} LIMIT {n}"
        ).format(
            cols=sql.SQL(", ").join(sql.Identifier(c) for c in spec.column_names),
            table=sql.Identifier(spec.name),
            time=sql.Identifier(spec.time_column),
            key=sql.Identifier(spec.primary_key[0]),
            n=sql.Literal(limit),
        )
        rows = await self.db.fetch(spec.database, statement, [since])
        return [self._encode[ALERTS](row) for row in rows]

    async def _latest_row(self, table: str) -> dict[str, Any] | None:
        spec = self.specs[table]
        order = spec.order_columns(spec.time_column)
        statement = sql.SQL("SELECT {cols} FROM {table} ORDER BY {order} LIMIT 1").format(
            cols=sql.SQL(", ").join(sql.Identifier(c) for c in spec.column_names),
            table=sql.Identifier(spec.name),
            order=sql.SQL(", ").join(sql.SQL("{} DESC").format(sql.Identifier(c)) for c in order),
        )
        rows = await self.db.fetch(spec.database, statement)
        return self._encode[table](rows[0]) if rows else None
