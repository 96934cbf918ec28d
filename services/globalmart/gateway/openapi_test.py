"""The OpenAPI document (no services needed: the app is built but not started)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from globalmart.gateway.app import create_app
from globalmart.gateway.tables import table_specs


def test_every_table_has_a_documented_route_with_its_filters() -> None:
    document = TestClient(create_app()).get("/openapi.json").json()
    for name, spec in table_specs().items():
        operation = document["paths"][f"/api/v1/{name}"]["get"]
        params = {p["name"] for p in operation["parameters"]}
        assert {"from", "to", "sort", "limit", "cursor", *spec.filters} <= params, name
        assert "application/problem+json" in operation["responses"]["400"]["content"]
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema["$ref"].endswith(f"/{name}_page")
        row = document["components"]["schemas"][name]
        assert set(row["properties"]) == set(spec.column_names)
        assert set(row["required"]) == set(spec.column_names)


def test_decimals_are_documented_as_strings_and_timestamps_as_utc() -> None:
    document = TestClient(create_app()).get("/openapi.json").json()
    row = document["components"]["schemas"]["sales_per_minute"]["properties"]
    assert row["total_revenue"]["type"] == "string" and row["total_revenue"]["format"] == "decimal"
    assert row["window_start"]["format"] == "date-time" and row["window_start"]["pattern"] == "Z$"


def test_ops_routes_declare_the_api_key() -> None:
    document = TestClient(create_app()).get("/openapi.json").json()
    operation = document["paths"]["/api/v1/dead_letters"]["get"]
    assert operation.get("security") == [{"APIKeyHeader": []}]
    assert "security" not in document["paths"]["/api/v1/alerts"]["get"]
