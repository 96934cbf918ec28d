"""REST over real PostgreSQL: filters, keyset pages, sorting, UTC timestamps, problems, roles."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from globalmart.core.settings import Settings
from globalmart.gateway.app import create_app
from globalmart.gateway.config import GatewayConfig
from globalmart.gateway.models import page_model
from globalmart.gateway.tables import table_specs
from globalmart.gateway.testing import random_past_minute, sample_row, seeded, unique_suffix

SPECS = table_specs()
OPS_KEY = "ops-" + unique_suffix()


@pytest.fixture(scope="module")
def settings(live_stack: Callable[..., Settings]) -> Settings:
    return live_stack("postgres-realtime", "postgres-warehouse", "redis")


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    config = GatewayConfig(ops_api_keys=[OPS_KEY], rate_limit_per_second=0)
    with TestClient(create_app(settings, config)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def country_rows(settings: Settings) -> Iterator[list[dict]]:
    """7 windows of one unique country, revenue rising with time."""
    spec = SPECS["sales_by_country"]
    start, country = random_past_minute(), f"T{unique_suffix()}"
    rows = [
        sample_row(
            spec,
            start + timedelta(minutes=i),
            i,
            country=country,
            total_revenue=Decimal(f"{100 + i}.10"),
        )
        for i in range(7)
    ]
    with seeded(settings, spec, rows):
        yield rows


def test_filter_sort_and_keyset_pages(client: TestClient, country_rows: list[dict]) -> None:
    country = country_rows[0]["country"]
    seen: list[str] = []
    url = f"/api/v1/sales_by_country?country={country}&limit=3&sort=window_start"
    pages = 0
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.text
        body = response.json()
        page_model(SPECS["sales_by_country"]).model_validate(body)  # the documented schema
        seen += [row["window_start"] for row in body["data"]]
        assert all(row["country"] == country for row in body["data"])
        url = body["page"]["next"]
        pages += 1
    assert pages == 3
    expected = [r["window_start"].strftime("%Y-%m-%dT%H:%M:%SZ") for r in country_rows]
    assert seen == expected  # every row once, ascending, UTC with Z


def test_descending_default_and_time_range(client: TestClient, country_rows: list[dict]) -> None:
    country = country_rows[0]["country"]
    start = country_rows[2]["window_start"].strftime("%Y-%m-%dT%H:%M:%SZ")
    end = country_rows[5]["window_start"].strftime("%Y-%m-%dT%H:%M:%S%%2B00:00")
    body = client.get(f"/api/v1/sales_by_country?country={country}&from={start}&to={end}").json()
    assert [r["total_revenue"] for r in body["data"]] == ["104.10", "103.10", "102.10"]
    assert body["page"]["next_cursor"] is None


def test_sort_on_a_non_key_column_with_cursor(client: TestClient, country_rows: list[dict]) -> None:
    country = country_rows[0]["country"]
    first = client.get(
        f"/api/v1/sales_by_country?country={country}&sort=-total_revenue&limit=4"
    ).json()
    second = client.get(
        f"/api/v1/sales_by_country?country={country}&sort=-total_revenue&limit=4"
        f"&cursor={first['page']['next_cursor']}"
    ).json()
    revenues = [r["total_revenue"] for r in first["data"] + second["data"]]
    assert revenues == [f"{100 + i}.10" for i in reversed(range(7))]


def test_warehouse_analytics_by_date_and_category(client: TestClient, settings: Settings) -> None:
    spec = SPECS["product_performance"]
    day, category = random_past_minute(), f"cat-{unique_suffix()}"
    rows = [
        sample_row(spec, day + timedelta(days=i), i, category_id=category, product_id=f"p{i}")
        for i in range(3)
    ]
    with seeded(settings, spec, rows):
        body = client.get(
            f"/api/v1/product_performance?category_id={category}"
            f"&from={(day + timedelta(days=1)).date()}"
        ).json()
        assert [r["as_of_date"] for r in body["data"]] == [
            str((day + timedelta(days=i)).date()) for i in (2, 1)
        ]
        wrong = client.get(f"/api/v1/product_performance?from={day.isoformat()}")
        assert wrong.status_code == 400
        assert wrong.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "query, parameter",
    [
        ("sort=-nope", "sort"),
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("from=2026-01-01T00:00:00", "from"),
        ("from=not-a-time", "from"),
        ("cursor=Zm9v", "cursor"),
        ("product_id=x", "product_id"),
    ],
)
def test_bad_parameters_are_problems(client: TestClient, query: str, parameter: str) -> None:
    response = client.get(f"/api/v1/sales_by_country?{query}")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 400 and problem["parameter"] == parameter
    assert problem["instance"] == "/api/v1/sales_by_country"


def test_unknown_path_is_a_problem(client: TestClient) -> None:
    response = client.get("/api/v1/no_such_table")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_ops_tables_need_an_ops_key(client: TestClient) -> None:
    assert client.get("/api/v1/dead_letters").status_code == 401
    assert client.get("/api/v1/dead_letters", headers={"X-API-Key": "wrong"}).status_code == 403
    response = client.get("/api/v1/stream_batch_ledger?limit=1", headers={"X-API-Key": OPS_KEY})
    assert response.status_code == 200, response.text


def test_the_gateway_reads_as_the_read_only_role(client: TestClient) -> None:
    checks = client.get("/health").json()["checks"]
    assert checks["postgres_realtime"]["role"] == "globalmart_reader"
    assert checks["postgres_warehouse"]["role"] == "globalmart_reader"


def test_catalog_lists_every_table(client: TestClient) -> None:
    tables = {t["name"]: t for t in client.get("/api/v1").json()}
    assert set(tables) == set(SPECS)
    assert tables["sales_by_country"]["filters"] == ["country"]
    assert tables["dead_letters"]["access"] == "ops"


def test_every_public_table_answers(client: TestClient) -> None:
    for name, spec in SPECS.items():
        if spec.access != "public":
            continue
        response = client.get(f"/api/v1/{name}?limit=2")
        assert response.status_code == 200, (name, response.text)
        page_model(spec).model_validate(response.json())
