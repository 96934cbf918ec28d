"""Consumer pacts for the gateway (the web dashboard and a sample client), verified against the
running gateway with provider states that seed real PostgreSQL.

The consumer half runs each consumer's request against Pact's mock server and writes the pact
files; the provider half replays every interaction against a real gateway (uvicorn, real
PostgreSQL and Redis), after a state handler inserted the rows the interaction's `given` names
(and removes them afterwards). The committed copies in `pacts/` are the published contracts:
the test fails if the generated interactions drift from them.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
from pact import Pact, Verifier, match

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
    unique_suffix,
)

PROVIDER = "globalmart-gateway"
UTC_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$"
DECIMAL = r"^-?\d+(\.\d+)?$"
PACT_COUNTRY = "PACT"
SPECS = table_specs()


def _ts(value: str = "2026-11-24T10:15:00Z") -> Any:
    return match.regex(value, regex=UTC_TIMESTAMP)


def dashboard_pact() -> Pact:
    pact = Pact("globalmart-dashboard", PROVIDER).with_specification("V4")
    (
        pact.upon_receiving("the latest sales windows")
        .given("sales windows exist")
        .with_request("GET", "/api/v1/sales_per_minute")
        .with_query_parameter("limit", "60")
        .will_respond_with(200)
        .with_body(
            {
                "data": match.each_like(
                    {
                        "window_start": _ts(),
                        "window_end": _ts("2026-11-24T10:16:00Z"),
                        "transaction_count": match.int(12),
                        "total_revenue": match.regex("1234.50", regex=DECIMAL),
                        "is_final": match.bool(True),
                    }
                ),
                "page": match.like({"limit": 60, "sort": "-window_start"}),
            },
            content_type="application/json",
        )
    )
    (
        pact.upon_receiving("critical alerts")
        .given("a critical alert exists")
        .with_request("GET", "/api/v1/alerts")
        .with_query_parameter("severity", "critical")
        .with_query_parameter("limit", "20")
        .will_respond_with(200)
        .with_body(
            {
                "data": match.each_like(
                    {
                        "dedup_key": match.str("high_value:t-1"),
                        "severity": "critical",
                        "title": match.str("High-value transaction"),
                        "alert_generated_at": _ts(),
                    }
                ),
            },
            content_type="application/json",
        )
    )
    (
        pact.upon_receiving("a bad sort parameter")
        .with_request("GET", "/api/v1/sales_per_minute")
        .with_query_parameter("sort", "bogus")
        .will_respond_with(400)
        .with_body(
            {"status": 400, "parameter": "sort", "title": "Bad Request", "detail": match.str("x")},
            content_type="application/problem+json",
        )
    )
    return pact


def sample_client_pact() -> Pact:
    pact = Pact("globalmart-sample-client", PROVIDER).with_specification("V4")
    (
        pact.upon_receiving("sales of one country, first page")
        .given("sales by country exist", country=PACT_COUNTRY)
        .with_request("GET", "/api/v1/sales_by_country")
        .with_query_parameter("country", PACT_COUNTRY)
        .with_query_parameter("limit", "2")
        .will_respond_with(200)
        .with_body(
            {
                "data": match.each_like(
                    {
                        "window_start": _ts(),
                        "country": PACT_COUNTRY,
                        "total_revenue": match.regex("10.25", regex=DECIMAL),
                    },
                    min=2,
                ),
                "page": {
                    "limit": 2,
                    "sort": "-window_start",
                    "next_cursor": match.str("eyJ2IjoxfQ"),
                    "next": match.str("/api/v1/..."),
                },
            },
            content_type="application/json",
        )
    )
    (
        pact.upon_receiving("a GraphQL query for RFM segments")
        .given("an RFM segment exists")
        .with_request("POST", "/graphql")
        .with_body(
            {"query": "{ rfm_segments(first: 1) { items { user_id segment } } }"},
            content_type="application/json",
        )
        .will_respond_with(200)
        .with_body(
            {
                "data": {
                    "rfm_segments": {
                        "items": match.each_like(
                            {"user_id": match.str("u-1"), "segment": match.str("champions")}
                        )
                    }
                }
            },
            content_type="application/json",
        )
    )
    return pact


# -- the consumers' code (what the dashboard and the sample client really send) -------------------
def dashboard_calls(base: str) -> None:
    with httpx.Client(base_url=base) as http:
        assert http.get("/api/v1/sales_per_minute", params={"limit": 60}).json()["data"]
        alerts = http.get("/api/v1/alerts", params={"severity": "critical", "limit": 20}).json()
        assert alerts["data"][0]["severity"] == "critical"
        assert http.get("/api/v1/sales_per_minute", params={"sort": "bogus"}).status_code == 400


def sample_client_calls(base: str) -> None:
    with httpx.Client(base_url=base) as http:
        page = http.get("/api/v1/sales_by_country", params={"country": PACT_COUNTRY, "limit": 2})
        assert page.json()["page"]["next_cursor"]
        query = "{ rfm_segments(first: 1) { items { user_id segment } } }"
        assert http.post("/graphql", json={"query": query}).json()["data"]["rfm_segments"]


PACTS: list[tuple[Callable[[], Pact], Callable[[str], None]]] = [
    (dashboard_pact, dashboard_calls),
    (sample_client_pact, sample_client_calls),
]


@pytest.fixture(scope="module")
def pact_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pacts")


@pytest.mark.parametrize("make, calls", PACTS, ids=["dashboard", "sample-client"])
def test_consumer_pacts(
    make: Callable[[], Pact], calls: Callable[[str], None], pact_dir: Path
) -> None:
    pact = make()
    with pact.serve() as server:
        calls(str(server.url))
    pact.write_file(pact_dir, overwrite=True)
    written = json.loads((pact_dir / f"{pact.consumer}-{PROVIDER}.json").read_text())
    committed = json.loads(
        (
            resources.files("globalmart.contracts") / "pacts" / f"{pact.consumer}-{PROVIDER}.json"
        ).read_text()
    )
    assert _interactions(written) == _interactions(
        committed
    ), "the consumer's interactions changed: copy the new pact into contracts/.../pacts/"


def _interactions(pact: dict[str, Any]) -> list[Any]:
    return sorted(
        (
            json.dumps({k: v for k, v in i.items() if k not in ("key",)}, sort_keys=True)
            for i in pact["interactions"]
        ),
    )


# -- provider verification ---------------------------------------------------------------------
class States:
    """Seeds real PostgreSQL for each `given`, and removes the rows on teardown."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.seeded: list[tuple[str, list[dict[str, Any]]]] = []

    def __call__(self, state: str, action: str, parameters: dict[str, Any] | None = None) -> None:
        if action == "teardown":
            for table, rows in self.seeded:
                delete_rows(self.settings, SPECS[table], rows)
            self.seeded.clear()
            return
        at, rng = random_past_minute(), random.Random()
        if not state:  # Pact's generic setup for interactions without a `given`
            return
        if state == "sales windows exist":
            self._seed("sales_per_minute", [sample_row(SPECS["sales_per_minute"], at, 0)])
        elif state == "a critical alert exists":
            now = datetime.now(timezone.utc)
            self._seed(
                "alerts",
                [
                    sample_row(
                        SPECS["alerts"],
                        now,
                        0,
                        severity="critical",
                        dedup_key=f"pact-{unique_suffix()}",
                    )
                ],
            )
        elif state == "sales by country exist":
            country = (parameters or {}).get("country", PACT_COUNTRY)
            spec = SPECS["sales_by_country"]
            self._seed(
                "sales_by_country",
                [sample_row(spec, at + timedelta(minutes=i), i, country=country) for i in range(3)],
            )
        elif state == "an RFM segment exists":
            self._seed(
                "rfm_segments",
                [
                    sample_row(
                        SPECS["rfm_segments"],
                        at,
                        rng.randrange(1000),
                        user_id=f"u-{unique_suffix()}",
                    )
                ],
            )
        else:
            raise ValueError(f"unknown provider state {state!r}")

    def _seed(self, table: str, rows: list[dict[str, Any]]) -> None:
        insert_rows(self.settings, SPECS[table], rows)
        self.seeded.append((table, rows))


@pytest.fixture(scope="module")
def provider(live_stack: Callable[..., Settings]) -> Iterator[tuple[Settings, str]]:
    settings = live_stack("postgres-realtime", "postgres-warehouse", "redis")
    app = create_app(settings, GatewayConfig(rate_limit_per_second=0))
    with running_gateway(app) as base:
        yield settings, base


def test_the_gateway_honours_every_pact(provider: tuple[Settings, str]) -> None:
    settings, base = provider
    pacts = resources.files("globalmart.contracts") / "pacts"
    verifier = (
        Verifier(PROVIDER, host="127.0.0.1")
        .add_transport(url=base)
        .state_handler(States(settings), teardown=True)
    )
    for name in ("globalmart-dashboard", "globalmart-sample-client"):
        verifier.add_source(str(pacts / f"{name}-{PROVIDER}.json"))
    verifier.verify()
    assert "globalmart-dashboard" in verifier.output() or verifier.results
