"""What makes a cached response stale: the freshness marker of each database.

The contract (writers and the gateway agree on it here):

* Real-time database — the stream jobs' exactly-once ledger `stream_batch_ledger` (one row per
  committed micro-batch, written in the same transaction as the batch's rows). The marker is the
  newest `batch_id` of every `query_name`. A streaming query commits its batches one after
  another, so each query's max(batch_id) only grows and changes exactly when a batch commits: a
  batch committed before a request's marker read is always reflected in the cache key, and
  entries cached under an older marker become unreachable. Nothing for the stream jobs to do
  beyond writing the ledger they already write. (max(committed_at) would not do: two concurrent
  transactions can commit out of timestamp order.) The marker query walks the primary key index
  (query_name, batch_id) with a loose index scan, so its cost grows with the number of queries,
  not of batches.

* Both databases — a Redis generation counter `<prefix>:gen:<database>`. Any writer outside the
  ledger (the nightly batch ETL into the warehouse, the alerting service, an operator fixing rows,
  a test seeding rows) bumps it *after* its transaction committed: `bump_generation(redis, db)`
  or `INCR gm:gen:warehouse`. The warehouse has no ledger, so there the counter is the contract:
  without a bump, entries still expire after `cache_ttl_warehouse_seconds`.

Concurrent requests share one in-flight marker read (a read that started after the request
arrived, or at most one read's duration, ~1 ms, before): freshness is bounded by that, not by a
poll interval. That costs one PostgreSQL round trip per request, also on a cache hit. A gateway
under load may instead reuse a marker read that started at most `freshness_window_ms` ago
(`GATEWAY_CACHE_FRESHNESS_WINDOW_MS`): a commit is then reflected within that window plus one
read, and at 500 requests/s a 50 ms window turns 500 marker reads per second into 20.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from psycopg import sql

from globalmart.gateway.db import Database

LEDGER_TABLE = "stream_batch_ledger"
T = TypeVar("T")

#: newest batch per streaming query, through the primary key index (loose index scan)
LEDGER_MARKER_SQL = sql.SQL(
    """
    WITH RECURSIVE names(query_name) AS (
        SELECT min(query_name) FROM {ledger}
      UNION ALL
        SELECT (SELECT min(l.query_name) FROM {ledger} l WHERE l.query_name > n.query_name)
        FROM names n WHERE n.query_name IS NOT NULL
    )
    SELECT n.query_name,
           (SELECT max(l.batch_id) FROM {ledger} l WHERE l.query_name = n.query_name)
    FROM names n WHERE n.query_name IS NOT NULL
    """
).format(ledger=sql.Identifier(LEDGER_TABLE))


def generation_key(prefix: str, database: str) -> str:
    return f"{prefix}:gen:{database}"


async def bump_generation(redis: Any, database: str, prefix: str = "gm") -> int:
    """Make every cached response of `database` unreachable (call after your commit)."""
    return int(await redis.incr(generation_key(prefix, database)))


def bump_generation_sync(redis: Any, database: str, prefix: str = "gm") -> int:
    """The same for synchronous redis clients (batch jobs, tests)."""
    return int(redis.incr(generation_key(prefix, database)))


def ledger_digest(rows: list[tuple[Any, ...]]) -> str:
    text = ";".join(f"{name}={batch}" for name, batch in sorted(rows))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class RecentRead(Generic[T]):
    """One async read shared by concurrent callers, and reused while it started at most
    `window` seconds ago (0: every caller gets a read that was in flight when it called)."""

    def __init__(self, read: Callable[[], Awaitable[T]], window: float = 0.0) -> None:
        self._read = read
        self.window = window
        self._inflight: asyncio.Future[T] | None = None
        self._last: tuple[float, T] | None = None

    async def __call__(self) -> T:
        last = self._last
        if last is not None and time.monotonic() - last[0] <= self.window:
            return last[1]
        if self._inflight is not None and not self._inflight.done():
            return await asyncio.shield(self._inflight)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._inflight = future
        started = time.monotonic()
        try:
            value = await self._read()
            future.set_result(value)
        except BaseException as exc:
            future.set_exception(exc)
            # Waiters get the error; mark it retrieved so an unawaited future does not warn.
            future.exception()
            raise
        finally:
            self._inflight = None
        if self.window > 0:
            self._last = (started, value)
        return value


class LedgerMarker:
    """The real-time ledger marker, one database read shared by concurrent callers (and reused
    for `window` seconds after it started, when the gateway is configured so)."""

    def __init__(self, database: Database, window: float = 0.0) -> None:
        self.database = database
        self._recent = RecentRead(self._read, window)

    @property
    def window(self) -> float:
        return self._recent.window

    async def read(self) -> str:
        return await self._recent()

    async def _read(self) -> str:
        rows = await self.database.fetch("realtime", LEDGER_MARKER_SQL)
        return ledger_digest(rows)
