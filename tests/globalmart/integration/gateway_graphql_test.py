"""GraphQL over real PostgreSQL: schema vs Avro, pages, batched relations, limits, live updates."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from fastapi.testclient import TestClient
from graphql import GraphQLNonNull, GraphQLObjectType, get_named_type

from globalmart.core.settings import Settings
from globalmart.gateway.app import create_app
from globalmart.gateway.config import GatewayConfig
from globalmart.gateway.tables import table_specs
from globalmart.gateway.testing import (
    delete_rows,
    insert_rows,
    random_past_minute,
    running_gateway,
    sample_row,
    seeded,
    unique_suffix,
)
from globalmart.schemas.catalog import load_catalog

SPECS = table_specs()
AVRO_TO_GRAPHQL = {
    "int": "Int",
    "long": "Long",
    "string": "String",
    "boolean": "Boolean",
    "double": "Float",
    "float": "Float",
    "bytes": "Base64",
}
LOGICAL = {"timestamp-micros": "DateTime", "date": "Date", "decimal": "Decimal"}


@pytest.fixture(scope="module")
def settings(live_stack: Callable[..., Settings]) -> Settings:
    return live_stack("postgres-realtime", "postgres-warehouse", "redis")


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    config = GatewayConfig(rate_limit_per_second=0, live_poll_seconds=0.2)
    with TestClient(create_app(settings, config)) as test_client:
        yield test_client


def _gql(client: TestClient, query: str, **variables: object) -> dict:
    response = client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    return response.json()


def _expected_type(avro_type: object) -> tuple[str, bool]:
    nullable = isinstance(avro_type, list)
    if isinstance(avro_type, list):
        avro_type = next(t for t in avro_type if t != "null")
    if isinstance(avro_type, dict):
        logical = avro_type.get("logicalType")
        if logical in LOGICAL:
            return LOGICAL[logical], nullable
        kind = avro_type["type"]
        if kind == "enum":
            return avro_type["name"], nullable
        if kind == "map":
            return "JSON", nullable
        if kind == "array":
            return "String", nullable
        return AVRO_TO_GRAPHQL[kind], nullable
    return AVRO_TO_GRAPHQL[str(avro_type)], nullable


def test_types_match_the_sink_avro_schemas(client: TestClient) -> None:
    schema = client.app.state.gateway.extras["graphql_schema"]._schema  # type: ignore[attr-defined]
    catalog = load_catalog()
    for name, spec in SPECS.items():
        if spec.access != "public":
            continue
        graphql_type = schema.get_type(name)
        assert isinstance(graphql_type, GraphQLObjectType), name
        for field in catalog.entry(name).latest.fields:
            gql_field = graphql_type.fields[field["name"]]
            expected, nullable = _expected_type(field["type"])
            assert get_named_type(gql_field.type).name == expected, (name, field["name"])
            is_float = expected == "Float"  # NaN is sent as null
            assert isinstance(gql_field.type, GraphQLNonNull) == (not nullable and not is_float)
        columns = {f["name"] for f in catalog.entry(name).latest.fields}
        relations = set(graphql_type.fields) - columns
        assert relations <= {"product_performance", "product_sales_velocity", "rfm_segments"}


def test_pages_filters_and_bad_input(client: TestClient, settings: Settings) -> None:
    spec = SPECS["sales_by_country"]
    start, country = random_past_minute(), f"G{unique_suffix()}"
    rows = [sample_row(spec, start + timedelta(minutes=i), i, country=country) for i in range(5)]
    query = """query($c: [String!], $after: String) {
      sales_by_country(country: $c, first: 2, after: $after, sort: "window_start") {
        items { window_start country total_revenue transaction_count } next_cursor } }"""
    with seeded(settings, spec, rows):
        seen, after = [], None
        for _ in range(5):
            page = _gql(client, query, c=[country], after=after)["data"]["sales_by_country"]
            seen += page["items"]
            after = page["next_cursor"]
            if after is None:
                break
        assert [r["window_start"] for r in seen] == [
            r["window_start"].strftime("%Y-%m-%dT%H:%M:%SZ") for r in rows
        ]
        assert seen[0]["total_revenue"] == "10.25" and seen[0]["country"] == country
    bad = _gql(client, '{ sales_by_country(sort: "nope") { next_cursor } }')
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert bad["errors"][0]["extensions"]["parameter"] == "sort"


def test_relations_are_batched_no_n_plus_1(client: TestClient, settings: Settings) -> None:
    anomalies, velocity, rfm = (
        SPECS["high_quantity_anomalies"],
        SPECS["product_sales_velocity"],
        SPECS["rfm_segments"],
    )
    at, country = random_past_minute(), f"Q{unique_suffix()}"
    products = [f"p-{unique_suffix()}" for _ in range(12)]
    users = [f"u-{unique_suffix()}" for _ in range(12)]
    anomaly_rows = [
        sample_row(
            anomalies, at, i, transaction_id=f"t-{p}", product_id=p, user_id=u, country=country
        )
        for i, (p, u) in enumerate(zip(products, users))
    ]
    velocity_rows = [
        sample_row(velocity, at + timedelta(minutes=5 * w), i, product_id=p)
        for i, p in enumerate(products)
        for w in (0, 1)
    ]
    rfm_rows = [sample_row(rfm, at, i, user_id=u) for i, u in enumerate(users[:6])]
    query = (
        """{ high_quantity_anomalies(first: 20, country: ["%s"]) {
        items { product_id user_id product_sales_velocity { window_start product_id }
                rfm_segments { user_id } } } }"""
        % country
    )
    db = client.app.state.gateway.db  # type: ignore[attr-defined]
    with seeded(settings, anomalies, anomaly_rows), seeded(
        settings, velocity, velocity_rows
    ), seeded(settings, rfm, rfm_rows):
        before = db.query_count
        items = _gql(client, query)["data"]["high_quantity_anomalies"]["items"]
        statements = db.query_count - before
    assert {i["product_id"] for i in items} == set(products)
    newest = (at + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert all(i["product_sales_velocity"]["window_start"] == newest for i in items)
    assert all(i["product_sales_velocity"]["product_id"] == i["product_id"] for i in items)
    with_rfm = {i["user_id"] for i in items if i["rfm_segments"] is not None}
    assert with_rfm == set(users[:6])
    # 1 page query + 1 per relation, not 1 + 2 * 12; plus the freshness marker read of the
    # result cache's key.
    assert statements == 3 + 1


def test_depth_cost_and_alias_limits(settings: Settings) -> None:
    config = GatewayConfig(graphql_max_depth=2, graphql_max_cost=300, rate_limit_per_second=0)
    with TestClient(create_app(settings, config)) as small:
        deep = _gql(small, "{ trending_products { items { product_performance { product_id } } } }")
        assert "exceeds maximum operation depth" in deep["errors"][0]["message"]
        costly = _gql(small, "{ alerts(first: 1000) { items { title } } }")
        assert costly["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        aliases = " ".join(f"a{i}: alerts(first: 1) {{ next_cursor }}" for i in range(20))
        assert "aliases" in _gql(small, "{ %s }" % aliases)["errors"][0]["message"]
        assert "data" in _gql(small, "{ alerts(first: 5) { items { title } } }")


def test_graphiql_is_served_from_our_own_files(client: TestClient) -> None:
    page = client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    assert "/static/vendor/graphiql.js" in page.text
    for external in ("http://", "https://", "//unpkg", "//cdn"):
        assert external not in page.text.replace("http://www.w3.org", "")


def _alert(at: datetime) -> dict:
    return sample_row(
        SPECS["alerts"],
        at,
        0,
        dedup_key=f"test-{unique_suffix()}",
        severity="critical",
        country="ZZ",
        event_time=None,
    )


def test_live_alerts_over_sse_and_graphql_subscription(settings: Settings) -> None:
    config = GatewayConfig(rate_limit_per_second=0, live_poll_seconds=0.2)
    app = create_app(settings, config)
    now = datetime.now(timezone.utc)
    alert = _alert(now)
    since = (now - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with running_gateway(app) as base:

        async def listen_sse() -> dict:
            async with httpx.AsyncClient(base_url=base, timeout=20) as http:
                # `since` also covers an alert committed before the subscription is in place.
                async with http.stream("GET", f"/api/v1/live/alerts?since={since}") as stream:
                    assert stream.headers["content-type"].startswith("text/event-stream")
                    async for line in stream.aiter_lines():
                        if line.startswith("data:"):
                            event = json.loads(line[5:])
                            if event["data"]["dedup_key"] == alert["dedup_key"]:
                                return dict(event)
            raise AssertionError("stream ended")

        async def scenario() -> dict:
            listener = asyncio.create_task(listen_sse())
            await asyncio.sleep(1.0)  # subscribed (and primed) before the alert commits
            await asyncio.to_thread(insert_rows, settings, SPECS["alerts"], [alert])
            return await asyncio.wait_for(listener, timeout=15)

        try:
            event = asyncio.run(scenario())
        finally:
            delete_rows(settings, SPECS["alerts"], [alert])
    assert event["type"] == "alert" and event["data"]["severity"] == "critical"


def test_graphql_subscription_over_websocket(client: TestClient, settings: Settings) -> None:
    alert = _alert(datetime.now(timezone.utc))
    since = (datetime.now(timezone.utc) - timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with seeded(settings, SPECS["alerts"], [alert]):
        with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            ws.send_json({"type": "connection_init"})
            assert ws.receive_json()["type"] == "connection_ack"
            ws.send_json(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {
                        "query": 'subscription { alerts(since: "%s") { dedup_key severity } }'
                        % since
                    },
                }
            )
            for _ in range(500):
                message = ws.receive_json()
                assert message["type"] == "next", message
                if message["payload"]["data"]["alerts"]["dedup_key"] == alert["dedup_key"]:
                    break
            assert message["payload"]["data"]["alerts"]["severity"] == "critical"
            ws.send_json({"id": "1", "type": "complete"})
