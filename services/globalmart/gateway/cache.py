"""Cache-aside of serialized response bytes in Redis, with stampede protection.

Key: `<prefix>:c:<database>:<ledger marker>:<generation>:<table>:<sha256 of the request>` (see
`freshness` for the marker and generation contract). Two more kinds of entry follow the same
rule: `r` entries hold a REST page under the digest of the raw query string, so the fast path
(`fastpath`) answers a repeated request without parsing it; `q` entries hold GraphQL results
under the digest of query + variables and the markers of both databases.

A committed batch changes the marker, so the next request computes a new key: it misses, reads
PostgreSQL, and stores the fresh bytes; old entries are never read again and expire by TTL.
Fresh and cached at once.

Stampede protection, two levels: concurrent misses on one key inside this process share one
computation (single flight); across processes a short Redis lock (`SET NX PX`) lets one process
compute while the others poll briefly for its result, then compute themselves if it never comes.

Redis being down never fails a request: the gateway answers from PostgreSQL and counts `error`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast

from prometheus_client import Counter, Gauge
from redis.asyncio import Redis
from redis.exceptions import RedisError

from globalmart.gateway.freshness import LedgerMarker, RecentRead, generation_key

log = logging.getLogger(__name__)

CACHE_REQUESTS = Counter(
    "gateway_cache_requests_total",
    "Cache lookups by table and result (hit, miss, coalesced, error, bypass).",
    ["table", "result"],
)
_totals = {"hit": 0, "miss": 0}
CACHE_HIT_RATIO = Gauge(
    "gateway_cache_hit_ratio", "Share of cache lookups answered from Redis since start."
)
CACHE_HIT_RATIO.set_function(
    lambda: (
        _totals["hit"] / (_totals["hit"] + _totals["miss"])
        if _totals["hit"] + _totals["miss"]
        else 0.0
    )
)

LOCK_MS = 5000
WAIT_STEP = 0.005


@dataclass
class Lookup:
    data: bytes
    #: hit | miss | coalesced | error | bypass
    result: str
    key: str


def _cached_bytes(value: bytes | str) -> bytes:
    """A cached value as bytes. The client keeps redis' default `decode_responses=False`, so GET
    answers bytes; redis' annotations say `bytes | str` whatever the client's setting."""
    return bytes(cast(bytes, value))


class NotCacheable(Exception):
    """Raised by a computation whose answer must not be stored (an error, a mutation): the
    caller, and every request that waited for the same key, answers with `response`."""

    def __init__(self, response: object) -> None:
        super().__init__("not cacheable")
        self.response = response


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def count(table: str, result: str) -> None:
    """Count one lookup (also those made outside this class: the fast path)."""
    CACHE_REQUESTS.labels(table, result).inc()
    if result in ("hit", "coalesced"):
        _totals["hit"] += 1
    elif result == "miss":
        _totals["miss"] += 1


class ResponseCache:
    def __init__(
        self,
        redis: Redis,
        marker: LedgerMarker,
        *,
        prefix: str = "gm",
        ttl: dict[str, int],
        enabled: bool = True,
    ) -> None:
        self.redis = redis
        self.marker = marker
        self.prefix = prefix
        self.ttl = ttl
        self.enabled = enabled
        self._flights: dict[str, asyncio.Future[bytes]] = {}
        # the generation counters follow the ledger marker's reuse window
        self._generations = {
            db: RecentRead(self._generation_reader(db), marker.window)
            for db in ("realtime", "warehouse")
        }

    def _generation_reader(self, database: str) -> Callable[[], Awaitable[int]]:
        name = generation_key(self.prefix, database)

        async def read() -> int:
            return int(await self.redis.get(name) or 0)

        return read

    async def version(self, database: str) -> str:
        """`<ledger marker>:<generation>` of a database (the warehouse has no ledger: `-`)."""
        if database == "realtime":
            ledger, gen = await asyncio.gather(self.marker.read(), self._generations[database]())
        else:
            ledger, gen = "-", await self._generations[database]()
        return f"{ledger}:{gen}"

    async def key(self, database: str, table: str, token: str) -> str:
        """The cache key for one request under the current freshness markers."""
        version = await self.version(database)
        return f"{self.prefix}:c:{database}:{version}:{table}:{digest(token.encode())}"

    async def raw_key(self, database: str, table: str, raw_query: bytes) -> str:
        """The fast path's key: a page under the digest of the query string as sent."""
        version = await self.version(database)
        return f"{self.prefix}:r:{database}:{version}:{table}:{digest(raw_query)}"

    async def graphql_key(self, request: bytes) -> str:
        """A GraphQL result: it may read both databases, so both markers are in the key."""
        realtime, warehouse = await asyncio.gather(
            self.version("realtime"), self.version("warehouse")
        )
        return f"{self.prefix}:q:{realtime}:{warehouse}:{digest(request)}"

    async def get_or_compute(
        self, database: str, table: str, token: str, compute: Callable[[], Awaitable[bytes]]
    ) -> Lookup:
        if not self.enabled:
            count(table, "bypass")
            return Lookup(await compute(), "bypass", "")
        try:
            key = await self.key(database, table, token)
        except RedisError as exc:
            log.warning("redis unavailable, answering uncached: %s", exc)
            count(table, "error")
            return Lookup(await compute(), "error", "")
        return await self.lookup(key, database, table, compute)

    async def lookup(
        self, key: str, database: str, table: str, compute: Callable[[], Awaitable[bytes]]
    ) -> Lookup:
        """Cache-aside on `key` (entries live `ttl[database]`), counted under `table`."""
        try:
            cached = await self.redis.get(key)
        except RedisError as exc:
            log.warning("redis unavailable, answering uncached: %s", exc)
            count(table, "error")
            return Lookup(await compute(), "error", "")
        if cached is not None:
            count(table, "hit")
            return Lookup(_cached_bytes(cached), "hit", key)

        flight = self._flights.get(key)
        if flight is not None:
            data = await asyncio.shield(flight)
            count(table, "coalesced")
            return Lookup(data, "coalesced", key)
        flight = asyncio.get_running_loop().create_future()
        self._flights[key] = flight
        try:
            data, result = await self._fill(key, database, compute)
            flight.set_result(data)
        except BaseException as exc:
            flight.set_exception(exc)
            flight.exception()  # retrieved: no "never awaited" warning when nobody waited
            raise
        finally:
            self._flights.pop(key, None)
        count(table, result)
        return Lookup(data, result, key)

    async def store(self, key: str, data: bytes, database: str) -> None:
        """Store an entry computed elsewhere (the fast path's alias of a page)."""
        await self._store(key, data, database)

    async def _fill(
        self, key: str, database: str, compute: Callable[[], Awaitable[bytes]]
    ) -> tuple[bytes, str]:
        lock, token = f"{key}:lock", secrets.token_hex(8)
        try:
            owner = bool(await self.redis.set(lock, token, nx=True, px=LOCK_MS))
        except RedisError:
            return await compute(), "error"
        if not owner:
            # Another process computes this key: wait for its result, not for PostgreSQL.
            deadline = time.monotonic() + LOCK_MS / 1000
            while time.monotonic() < deadline:
                await asyncio.sleep(WAIT_STEP)
                try:
                    cached = await self.redis.get(key)
                except RedisError:
                    break
                if cached is not None:
                    return _cached_bytes(cached), "coalesced"
        try:
            data = await compute()
            await self._store(key, data, database)
        finally:
            if owner:
                await self._release(lock, token)
        return data, "miss"

    async def _store(self, key: str, data: bytes, database: str) -> None:
        try:
            await self.redis.set(key, data, ex=self.ttl[database])
        except RedisError as exc:
            log.warning("could not store a cache entry: %s", exc)

    async def _release(self, lock: str, token: str) -> None:
        # Release only our own lock (it may have expired and been taken by another process).
        try:
            await self.redis.eval(_RELEASE, 1, lock, token)
        except RedisError as exc:
            log.warning("could not release a cache lock: %s", exc)


_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
