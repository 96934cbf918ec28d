"""Redis cache-aside: hits, freshness on a committed batch, stampede protection, hit ratio."""

from __future__ import annotations

import asyncio
import json
import time
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


# -- the fast path: a repeated query string answered from Redis before FastAPI parses it --------
def test_the_fast_path_serves_a_repeated_query_string_as_stored(client: TestClient) -> None:
    gateway = client.app.state.gateway  # type: ignore[attr-defined]
    country = f"P{unique_suffix()}"
    url = f"/api/v1/sales_by_country?country={country}&limit=5"
    for _ in range(10):  # a ledger commit elsewhere between the calls starts a new key
        first, second = client.get(url), client.get(url)
        alias = client.portal.call(  # type: ignore[union-attr]
            gateway.cache.raw_key,
            "realtime",
            "sales_by_country",
            f"country={country}&limit=5".encode(),
        )
        stored = client.portal.call(gateway.redis.get, alias)  # type: ignore[union-attr]
        if second.headers["X-Cache"] == "HIT" and stored is not None:
            break
    assert stored == first.content == second.content
    assert second.headers["content-type"] == first.headers["content-type"] == "application/json"
    # Another spelling of the same query is validated by the route (and then aliased too).
    other = client.get(f"/api/v1/sales_by_country?limit=5&country={country}")
    assert other.status_code == 200 and other.content == first.content
    # Invalid requests are never stored: the route refuses them every time.
    for _ in range(2):
        bad = client.get(f"/api/v1/sales_by_country?country={country}&limit=0")
        assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"


def test_the_fast_path_is_not_taken_for_ops_tables(settings: Settings) -> None:
    """dead_letters needs an ops key: an aliased page must never answer a request without it."""
    config = GatewayConfig(rate_limit_per_second=0, ops_api_keys=["ops-test-key"])
    with TestClient(create_app(settings, config)) as ops_client:
        url = "/api/v1/dead_letters?limit=1"
        for _ in range(2):
            assert ops_client.get(url, headers={"X-API-Key": "ops-test-key"}).status_code == 200
        assert ops_client.get(url).status_code == 401


def test_a_freshness_window_saves_the_marker_reads_and_still_shows_a_commit(
    settings: Settings,
) -> None:
    window_ms = 300
    config = GatewayConfig(rate_limit_per_second=0, cache_freshness_window_ms=window_ms)
    country, query_name = f"W{unique_suffix()}", f"gateway-test-{unique_suffix()}"
    url = f"/api/v1/sales_by_country?country={country}"
    with TestClient(create_app(settings, config)) as windowed:
        db = windowed.app.state.gateway.db  # type: ignore[attr-defined]
        windowed.get(url)
        before = db.query_count
        hits = [windowed.get(url).headers["X-Cache"] for _ in range(20)]
        # 20 hits inside a few windows: a handful of marker reads, not one per request
        assert hits.count("HIT") >= 15 and db.query_count - before < 10
        spec = SPECS["sales_by_country"]
        row = sample_row(spec, random_past_minute(), 0, country=country)
        try:
            _commit_batch(settings, spec, row, query_name)
            time.sleep(window_ms / 1000 + 0.05)
            fresh = windowed.get(url)
            assert [r["country"] for r in fresh.json()["data"]] == [country]
        finally:
            _cleanup(settings, country, query_name)


def _commit_batch(settings: Settings, spec: Any, row: dict[str, Any], query_name: str) -> None:
    """What a stream job does: its rows and its ledger row in one transaction."""
    columns = list(spec.column_names)
    with psycopg.connect(settings.postgres_dsn("realtime")) as conn:
        conn.execute(
            sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                sql.Identifier(spec.name),
                sql.SQL(", ").join(map(sql.Identifier, columns)),
                sql.SQL(", ").join(sql.Placeholder() * len(columns)),
            ),
            [row[c] for c in columns],
        )
        conn.execute(
            "INSERT INTO stream_batch_ledger (query_name, batch_id, tables, rows_written, "
            "committed_at) VALUES (%s, 0, %s, 1, now())",
            (query_name, [spec.name]),
        )


def _cleanup(settings: Settings, country: str, query_name: str) -> None:
    with psycopg.connect(settings.postgres_dsn("realtime")) as conn:
        conn.execute("DELETE FROM sales_by_country WHERE country = %s", (country,))
    _delete_ledger(settings, query_name)


# -- GraphQL results ------------------------------------------------------------------------
GQL = """query Sales($c: [String!]) {
  sales_by_country(country: $c, first: 5) { items { country total_revenue } } }"""


def _gql_twice_until_hit(client: TestClient, body: dict[str, Any]) -> tuple[_Response, _Response]:
    for _ in range(10):
        first, second = client.post("/graphql", json=body), client.post("/graphql", json=body)
        if second.headers.get("X-Cache") == "HIT":
            return first, second
    return first, second


def test_graphql_results_are_cached_until_a_stream_batch_commits(
    client: TestClient, settings: Settings
) -> None:
    country, query_name = f"Q{unique_suffix()}", f"gateway-test-{unique_suffix()}"
    body = {"query": GQL, "variables": {"c": [country]}}
    first, cached = _gql_twice_until_hit(client, body)
    assert cached.headers["X-Cache"] == "HIT" and cached.content == first.content
    assert cached.json() == {"data": {"sales_by_country": {"items": []}}}
    gateway = client.app.state.gateway  # type: ignore[attr-defined]
    token = json.dumps(
        {"query": GQL, "variables": {"c": [country]}, "operationName": None},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    old_key = client.portal.call(gateway.cache.graphql_key, token)  # type: ignore[union-attr]
    assert client.portal.call(gateway.redis.get, old_key) == cached.content  # type: ignore
    # other variables are another entry
    other = client.post("/graphql", json={"query": GQL, "variables": {"c": ["ZZ"]}})
    assert other.headers["X-Cache"] != "HIT" or other.content != cached.content
    spec = SPECS["sales_by_country"]
    try:
        _commit_batch(
            settings, spec, sample_row(spec, random_past_minute(), 0, country=country), query_name
        )
        new_key = client.portal.call(gateway.cache.graphql_key, token)  # type: ignore
        assert new_key != old_key  # the old entry is unreachable: no request computes its key
        fresh = client.post("/graphql", json=body)
        assert fresh.headers["X-Cache"] != "HIT"
        items = fresh.json()["data"]["sales_by_country"]["items"]
        assert [i["country"] for i in items] == [country]
        _, again = _gql_twice_until_hit(client, body)
        assert again.headers["X-Cache"] == "HIT" and again.json() == fresh.json()
    finally:
        _cleanup(settings, country, query_name)


def test_graphql_errors_are_not_cached(client: TestClient) -> None:
    body = {"query": '{ sales_by_country(sort: "nope") { next_cursor } }'}
    for _ in range(2):
        response = client.post("/graphql", json=body)
        assert response.json()["errors"] and "X-Cache" not in response.headers
