"""Read-only database access: one async pool per database, as the reader role.

The pools connect with `settings.postgres_dsn(db, reader=True)` (a role with SELECT only) and
additionally open every transaction read-only, with a statement timeout and UTC session time zone,
so a slow or hostile query cannot hold a connection and timestamps come back in UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from globalmart.core.settings import Settings
from globalmart.gateway.config import GatewayConfig
from globalmart.gateway.encode import row_encoder
from globalmart.gateway.query import TableQuery, encode_cursor, select_sql
from globalmart.gateway.tables import TableSpec

DATABASES = ("realtime", "warehouse")


class DatabaseUnavailable(RuntimeError):
    """PostgreSQL did not answer (a 503 for the client, not a 500)."""


class Database:
    def __init__(self, settings: Settings, config: GatewayConfig) -> None:
        options = (
            f"-c statement_timeout={config.statement_timeout_ms} "
            "-c default_transaction_read_only=on -c TimeZone=UTC"
        )
        self.pools = {
            name: AsyncConnectionPool(
                settings.postgres_dsn(name, reader=True),
                min_size=1,
                max_size=config.pool_max_size,
                kwargs={"options": options, "autocommit": True, "connect_timeout": 5},
                open=False,
                timeout=10,
                name=f"gateway-{name}",
            )
            for name in DATABASES
        }
        self._encoders: dict[str, Any] = {}
        #: statements run so far (tests use it to prove batching and single flight)
        self.query_count = 0

    async def open(self) -> None:
        for pool in self.pools.values():
            # wait=False: the gateway starts (and answers 503) even while a database is down.
            await pool.open(wait=False)

    async def close(self) -> None:
        for pool in self.pools.values():
            await pool.close()

    async def fetch(
        self, database: str, statement: sql.SQL | sql.Composed, params: Sequence[Any] = ()
    ) -> list[tuple[Any, ...]]:
        self.query_count += 1
        try:
            async with self.pools[database].connection() as conn:
                cursor = await conn.execute(statement, params)
                return list(await cursor.fetchall())
        except Exception as exc:  # psycopg and pool errors alike: the client sees a 503
            if _is_client_error(exc):
                raise
            raise DatabaseUnavailable(f"{database} database: {exc}") from exc

    async def page(self, spec: TableSpec, query: TableQuery) -> dict[str, Any]:
        """One page as a JSON-ready dict: `data` rows and `page` (limit, sort, next_cursor)."""
        statement, params = select_sql(spec, query)
        rows = await self.fetch(spec.database, statement, params)
        encode = self._encoders.get(spec.name)
        if encode is None:
            encode = self._encoders[spec.name] = row_encoder(spec)
        data = [encode(row) for row in rows[: query.limit]]
        more = len(rows) > query.limit
        next_cursor = encode_cursor(spec, query, data[-1]) if more and data else None
        return {
            "data": data,
            "page": {"limit": query.limit, "sort": query.sort, "next_cursor": next_cursor},
        }


def _is_client_error(exc: Exception) -> bool:
    """Errors caused by the statement itself are bugs (500), not outages (503)."""
    from psycopg import errors

    return isinstance(exc, (errors.SyntaxError, errors.UndefinedColumn, errors.UndefinedTable))
