"""Security: API keys, rate limits, CORS, and hostile input that must stay data."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from globalmart.core.settings import Settings
from globalmart.gateway.app import create_app
from globalmart.gateway.config import GatewayConfig
from globalmart.gateway.testing import unique_suffix

ADMIN, OPS = f"admin-{unique_suffix()}", f"ops-{unique_suffix()}"


@pytest.fixture(scope="module")
def settings(live_stack: Callable[..., Settings]) -> Settings:
    return live_stack("postgres-realtime", "postgres-warehouse", "redis")


def test_admin_and_ops_keys(settings: Settings) -> None:
    config = GatewayConfig(admin_api_keys=[ADMIN], ops_api_keys=[OPS], rate_limit_per_second=0)
    with TestClient(create_app(settings, config)) as client:
        assert client.get("/api/v1/ops/cache").status_code == 401
        assert client.get("/api/v1/ops/cache", headers={"X-API-Key": OPS}).status_code == 200
        assert client.get("/api/v1/ops/cache", headers={"X-API-Key": ADMIN}).status_code == 200
        invalidate = "/api/v1/admin/cache/invalidate?database=warehouse"
        assert client.post(invalidate, headers={"X-API-Key": OPS}).status_code == 403
        before = client.get("/api/v1/ops/cache", headers={"X-API-Key": ADMIN}).json()
        bumped = client.post(invalidate, headers={"X-API-Key": ADMIN})
        assert bumped.status_code == 200
        assert bumped.json()["generation"] > before["generations"]["warehouse"]


def test_no_key_configured_means_nobody_gets_in(settings: Settings) -> None:
    with TestClient(create_app(settings, GatewayConfig(rate_limit_per_second=0))) as client:
        response = client.get("/api/v1/dead_letters", headers={"X-API-Key": "anything"})
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"


def test_rate_limit_answers_429_with_retry_after(settings: Settings) -> None:
    config = GatewayConfig(rate_limit_per_second=1, rate_limit_burst=3)
    with TestClient(create_app(settings, config)) as client:
        statuses = [client.get("/api/v1").status_code for _ in range(6)]
        assert statuses[:3] == [200, 200, 200] and 429 in statuses[3:]
        limited = client.get("/api/v1")
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert limited.headers["content-type"] == "application/problem+json"
        assert client.get("/metrics").status_code == 200  # monitoring is never throttled


def test_cors_is_configurable(settings: Settings) -> None:
    allowed = "http://dashboard.example"
    config = GatewayConfig(cors_origins=[allowed], rate_limit_per_second=0)
    with TestClient(create_app(settings, config)) as client:
        ok = client.options(
            "/api/v1/alerts", headers={"Origin": allowed, "Access-Control-Request-Method": "GET"}
        )
        assert ok.headers.get("access-control-allow-origin") == allowed
        denied = client.get("/api/v1", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in denied.headers
    with TestClient(create_app(settings, GatewayConfig())) as client:  # default: no CORS
        assert (
            "access-control-allow-origin"
            not in client.get("/api/v1", headers={"Origin": allowed}).headers
        )


def test_hostile_filter_values_are_only_data(settings: Settings) -> None:
    with TestClient(create_app(settings, GatewayConfig(rate_limit_per_second=0))) as client:
        for value in ("x' OR '1'='1", 'x"; DROP TABLE alerts; --', "%00", "😀" * 50):
            response = client.get("/api/v1/sales_by_country", params={"country": value})
            assert response.status_code == 200 and response.json()["data"] == []
        query = '{ sales_by_country(country: ["x\' OR 1=1 --"]) { items { country } } }'
        assert client.post("/graphql", json={"query": query}).json()["data"] == {
            "sales_by_country": {"items": []}
        }


def test_ops_runs_endpoint_reads_the_metrics_store(live_stack: Callable[..., Settings]) -> None:
    from globalmart.core.runlog import BATCH_RUNS, RunLog

    settings = live_stack("postgres-realtime", "postgres-warehouse", "redis", "ferretdb")
    marker = f"run-{unique_suffix()}"
    with RunLog(settings) as log:
        log.record(BATCH_RUNS, {"run": marker, "status": "ok", "rows": 7})
    config = GatewayConfig(ops_api_keys=[OPS], rate_limit_per_second=0)
    with TestClient(create_app(settings, config)) as client:
        assert client.get("/api/v1/ops/runs/batch_runs").status_code == 401
        body = client.get("/api/v1/ops/runs/batch_runs", headers={"X-API-Key": OPS}).json()
        assert body["collection"] == "batch_runs"
        assert any(doc.get("run") == marker and doc["rows"] == 7 for doc in body["data"])
        bad = client.get("/api/v1/ops/runs/nope", headers={"X-API-Key": OPS})
        assert bad.status_code == 422 or bad.status_code == 400
        assert bad.headers["content-type"].startswith("application/problem+json")
