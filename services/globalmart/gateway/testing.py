"""Test support: seed rows of any served table into real PostgreSQL, and remove them again.

Rows are made from the table spec (so from the schema): `sample_row` fills every column with a
valid value of its kind, overridable per column. Seeding writes as the writer role (the gateway
itself only reads) and then bumps the cache generation of the database, as the freshness contract
asks of every writer outside the stream ledger. Tests isolate themselves with unique values (a
unique country or product id, a random window far in the past) and delete what they inserted.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import psycopg
import redis
from psycopg import sql
from psycopg.types.json import Jsonb

from globalmart.core.ports import free_port
from globalmart.core.settings import Settings
from globalmart.gateway.freshness import bump_generation_sync
from globalmart.gateway.tables import (
    BOOL,
    BYTES,
    DATE,
    DECIMAL,
    ENUM,
    FLOAT,
    INT,
    JSON,
    TEXT,
    TEXT_ARRAY,
    TIMESTAMP,
    TableSpec,
)


def unique_suffix() -> str:
    return uuid.uuid4().hex[:10]


def random_past_minute(rng: random.Random | None = None) -> datetime:
    """A whole UTC minute somewhere in 2001-2020: far from live data, unlikely to collide."""
    rng = rng or random.Random()
    start = datetime(2001, 1, 1, tzinfo=timezone.utc)
    return start + timedelta(minutes=rng.randrange(0, 20 * 365 * 24 * 60))


def sample_row(spec: TableSpec, at: datetime, n: int = 0, **overrides: Any) -> dict[str, Any]:
    """A valid row: the time column at `at`, windows ending after their start, text columns
    made unique with `n`; pass overrides for anything the test cares about."""
    row: dict[str, Any] = {}
    for column in spec.columns:
        kind = column.kind
        if kind == TIMESTAMP:
            value: Any = at + timedelta(minutes=1) if column.name == "window_end" else at
        elif kind == DATE:
            value = at.date()
        elif kind == DECIMAL:
            value = Decimal(f"{10 + n}.25")
        elif kind == INT:
            value = n + 1
        elif kind == FLOAT:
            value = 0.5 + n
        elif kind == BOOL:
            value = True
        elif kind == ENUM:
            value = column.symbols[0]
        elif kind == TEXT:
            value = f"{column.name}-{n}"
        elif kind == BYTES:
            value = b"\x00\x01"
        elif kind == JSON:
            value = {"n": str(n)}
        elif kind == TEXT_ARRAY:
            value = [spec.name]
        else:  # pragma: no cover - every kind is listed above
            raise ValueError(kind)
        row[column.name] = value
    row.update(overrides)
    return row


def _adapt(value: Any) -> Any:
    return Jsonb(value) if isinstance(value, dict) else value


def insert_rows(settings: Settings, spec: TableSpec, rows: Sequence[dict[str, Any]]) -> None:
    """Insert as the writer role, then bump the database's cache generation."""
    if not rows:
        return
    columns = list(spec.column_names)
    statement = sql.SQL("INSERT INTO {table} ({cols}) VALUES ({values})").format(
        table=sql.Identifier(spec.name),
        cols=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        values=sql.SQL(", ").join(sql.Placeholder() for _ in columns),
    )
    with psycopg.connect(settings.postgres_dsn(spec.database), connect_timeout=10) as conn:
        with conn.cursor() as cur:
            cur.executemany(statement, [[_adapt(r[c]) for c in columns] for r in rows])
    bump(settings, spec.database)


def delete_rows(settings: Settings, spec: TableSpec, rows: Sequence[dict[str, Any]]) -> None:
    """Delete rows by their natural key (as the writer role), then bump the generation."""
    if not rows:
        return
    key = list(spec.primary_key)
    statement = sql.SQL("DELETE FROM {table} WHERE ({cols}) = ({values})").format(
        table=sql.Identifier(spec.name),
        cols=sql.SQL(", ").join(sql.Identifier(c) for c in key),
        values=sql.SQL(", ").join(sql.Placeholder() for _ in key),
    )
    with psycopg.connect(settings.postgres_dsn(spec.database), connect_timeout=10) as conn:
        with conn.cursor() as cur:
            cur.executemany(statement, [[r[c] for c in key] for r in rows])
    bump(settings, spec.database)


def bump(settings: Settings, database: str, prefix: str = "gm") -> None:
    client = redis.Redis(host=settings.redis_host, port=settings.redis_port, socket_timeout=5)
    try:
        bump_generation_sync(client, database, prefix)
    finally:
        client.close()


@contextmanager
def seeded(
    settings: Settings, spec: TableSpec, rows: Sequence[dict[str, Any]]
) -> Iterator[Sequence[dict[str, Any]]]:
    insert_rows(settings, spec, rows)
    try:
        yield rows
    finally:
        delete_rows(settings, spec, rows)


def as_date(value: datetime) -> date:
    return value.date()


@contextmanager
def running_gateway(app: Any, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve `app` with uvicorn on a free port in a background thread; yields the base URL."""
    import threading
    import time

    import httpx
    import uvicorn

    port = free_port(host)
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="gateway-under-test", daemon=True)
    thread.start()
    base = f"http://{host}:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code in (200, 503):
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        server.should_exit = True
        raise RuntimeError(f"the gateway did not start on {base}")
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def metric_value(text: str, name: str, **labels: str) -> float | None:
    """A sample's value in Prometheus exposition text (None when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


def api_rows(base: str, table: str, query: str) -> list[dict[str, Any]]:
    """Every row of /api/v1/<table>?<query>, following the keyset pages."""
    import httpx

    rows: list[dict[str, Any]] = []
    url: str | None = f"/api/v1/{table}?{query}"
    while url:
        body = httpx.get(base + url, timeout=10).json()
        rows += body["data"]
        url = body["page"]["next"]
    return rows
