"""Redis cache-aside: hits, freshness on a committed batch, stampede protection, hit ratio."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql

from globalmart.core.settings import Settings
from globalmart.gateway.app import create_app
from globalmart.gateway.cache import ResponseCache
from globalmart.gateway.config import GatewayConfig
from globalmart.gateway.tables import table_specs
from globalmart.gateway.testing import (
    metric_value,
    random_past_minute,
    running_gateway,
    sample_row,
    seeded,
    unique_suffix,
)

SPECS = table_specs()


@pytest.fixture(scope="module")
def settings(live_stack: Callable[..., Settings]) -> Settings:
    return live_stack("postgres-realtime", "postgres-warehouse", "redis")


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    config = GatewayConfig(rate_limit_per_second=0)
    with TestClient(create_app(settings, config)) as test_client:
        yield test_client


class _Response(Protocol):
    """What these tests read from a TestClient response: Starlette's TestClient answers with
    `httpx2.Response` when httpx2 is installed (else `httpx.Response`), so name neither."""

    @property
    def headers(self) -> Mapping[str, str]:
        """The response headers (case-insensitive)."""

    @property
    def content(self) -> bytes:
        """The raw body."""

    def json(self, **kwargs: Any) -> Any:
        """The body, decoded from JSON."""


def _get_twice_until_hit(client: TestClient, url: str) -> tuple[_Response, _Response]:
    """Other tests commit ledger batches concurrently (each one rightly empties the cache), so
    retry a few times until two back-to-back requests see the same marker."""
    for _ in range(10):
        first, second = client.get(url), client.get(url)
        if second.headers["X-Cache"] == "HIT":
            return first, second
    return first, second


def test_second_request_is_a_hit_with_the_same_bytes(client: TestClient) -> None:
    url = f"/api/v1/sales_by_country?country=N{unique_suffix()}"
    first, second = _get_twice_until_hit(client, url)
    assert first.headers["X-Cache"] in ("MISS", "HIT")
    assert second.headers["X-Cache"] == "HIT"
    assert first.content == second.content


def _write_ledger(settings: Settings, query_name: str, batch_id: int) -> None:
    with psycopg.connect(settings.postgres_dsn("realtime")) as conn:
        conn.execute(
            "INSERT INTO stream_batch_ledger (query_name, batch_id, tables, rows_written, "
            "committed_at) VALUES (%s, %s, %s, 1, now())",
            (query_name, batch_id, ["sales_by_country"]),
        )


def _delete_ledger(settings: Settings, query_name: str) -> None:
    with psycopg.connect(settings.postgres_dsn("realtime")) as conn:
        conn.execute("DELETE FROM stream_batch_ledger WHERE query_name = %s", (query_name,))


def test_a_committed_batch_makes_the_cached_page_unreachable(
    client: TestClient, settings: Settings
) -> None:
    """A stream job commits rows and its ledger row in one transaction, without telling the
    gateway: the very next request must show the new row (fresh), then be cached again."""
    spec = SPECS["sales_by_country"]
    country, query_name = f"F{unique_suffix()}", f"gateway-test-{unique_suffix()}"
    url = f"/api/v1/sales_by_country?country={country}"
    _, cached = _get_twice_until_hit(client, url)
    assert cached.json()["data"] == []
    row = sample_row(spec, random_past_minute(), 0, country=country)
    columns = list(spec.column_names)
    try:
        with psycopg.connect(settings.postgres_dsn("realtime")) as conn:  # one transaction
            conn.execute(
                sql.SQL("INSERT INTO sales_by_country ({}) VALUES ({})").format(
                    sql.SQL(", ").join(map(sql.Identifier, columns)),
                    sql.SQL(", ").join(sql.Placeholder() * len(columns)),
                ),
                [row[c] for c in columns],
            )
            conn.execute(
                "INSERT INTO stream_batch_ledger (query_name, batch_id, tables, rows_written, "
                "committed_at) VALUES (%s, 0, %s, 1, now())",
                (query_name, ["sales_by_country"]),
            )
        fresh = client.get(url)
        assert fresh.headers["X-Cache"] != "HIT"
        assert [r["country"] for r in fresh.json()["data"]] == [country]
        _, again = _get_twice_until_hit(client, url)
        assert again.headers["X-Cache"] == "HIT" and again.json()["data"] == fresh.json()["data"]
    finally:
        with psycopg.connect(settings.postgres_dsn("realtime")) as conn:
            conn.execute("DELETE FROM sales_by_country WHERE country = %s", (country,))
        _delete_ledger(settings, query_name)


def test_the_generation_counter_invalidates_the_warehouse(
    client: TestClient, settings: Settings
) -> None:
    spec = SPECS["rfm_segments"]
    segment_user = f"u-{unique_suffix()}"
    url = f"/api/v1/rfm_segments?user_id={segment_user}"
    _, cached = _get_twice_until_hit(client, url)
    assert cached.headers["X-Cache"] == "HIT" and cached.json()["data"] == []
    rows = [sample_row(spec, random_past_minute(), 0, user_id=segment_user)]
    with seeded(settings, spec, rows):  # seeding bumps gm:gen:warehouse after its commit
        fresh = client.get(url)
        assert fresh.headers["X-Cache"] == "MISS"
        assert [r["user_id"] for r in fresh.json()["data"]] == [segment_user]


def test_single_flight_in_process_and_lock_across_processes(client: TestClient) -> None:
    """20 concurrent misses here and 10 in a second cache instance (standing in for another
    gateway process, sharing Redis): the slow computation runs once."""
    gateway = client.app.state.gateway  # type: ignore[attr-defined]
    other = ResponseCache(
        gateway.redis, gateway.cache.marker, prefix=gateway.cache.prefix, ttl=gateway.cache.ttl
    )
    token = f"stampede-{unique_suffix()}"
    calls = 0

    async def compute() -> bytes:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.3)
        return b"computed once"

    async def storm() -> list[str]:
        here = [gateway.cache.get_or_compute("warehouse", "t", token, compute) for _ in range(20)]
        there = [other.get_or_compute("warehouse", "t", token, compute) for _ in range(10)]
        results = await asyncio.gather(*here, *there)
        assert {r.data for r in results} == {b"computed once"}
        return [r.result for r in results]

    results = client.portal.call(storm)  # type: ignore[union-attr]
    assert calls == 1
    assert results.count("miss") == 1 and results.count("coalesced") == 29
    metrics = client.get("/metrics").text
    assert (
        metric_value(metrics, "gateway_cache_requests_total", table="t", result="coalesced") == 29
    )
    assert "gateway_cache_hit_ratio" in metrics


def test_concurrent_requests_compute_a_page_once_over_http(settings: Settings) -> None:
    app = create_app(settings, GatewayConfig(rate_limit_per_second=0))
    spec = SPECS["sales_by_country"]
    country = f"S{unique_suffix()}"
    rows = [sample_row(spec, random_past_minute(), 0, country=country)]
    with seeded(settings, spec, rows), running_gateway(app) as base:

        async def burst() -> list[str]:
            async with httpx.AsyncClient(base_url=base, timeout=20) as http:
                responses = await asyncio.gather(
                    *(http.get(f"/api/v1/sales_by_country?country={country}") for _ in range(30))
                )
            assert all(r.status_code == 200 for r in responses)
            assert len({r.content for r in responses}) == 1
            return [r.headers["X-Cache"] for r in responses]

        for _ in range(5):  # a ledger commit elsewhere mid-burst rightly starts a new key
            results = asyncio.run(burst())
            if results.count("MISS") == 1:
                break
        assert results.count("MISS") == 1, results
        metrics = httpx.get(f"{base}/metrics").text
        count = metric_value(
            metrics,
            "gateway_http_requests_total",
            method="GET",
            route="/api/v1/sales_by_country",
            status="200",
        )
        assert count is not None and count >= 30


def test_redis_keys_carry_the_marker(client: TestClient, settings: Settings) -> None:
    gateway = client.app.state.gateway  # type: ignore[attr-defined]
    key = client.portal.call(  # type: ignore[union-attr]
        gateway.cache.key, "realtime", "sales_per_minute", "token"
    )
    marker = client.portal.call(gateway.cache.marker.read)  # type: ignore[union-attr]
    assert key.startswith(f"gm:c:realtime:{marker}:")
    query_name = f"gateway-test-{unique_suffix()}"
    try:
        _write_ledger(settings, query_name, 7)
        assert client.portal.call(gateway.cache.marker.read) != marker  # type: ignore[union-attr]
    finally:
        _delete_ledger(settings, query_name)
