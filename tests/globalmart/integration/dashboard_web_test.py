"""The live web dashboard (`/`) in Debian's headless Chromium, on real rows in real PostgreSQL.

Seeds half an hour of every table the page reads (a random half hour in 2001-2020, so nothing
else is in range; the last window still open), a ledger row and a stream progress report, serves
the real gateway on a free port and loads the page pinned to that half hour. Asserts that every
tile, table and chart shows what the REST API returns for the same range (computed here from the
API's JSON), that the open window is drawn as partial, that the page has no console errors, and
that it updates live: a window closing plus an alert pushed over SSE refresh it without a reload,
and in live mode a new alert appears as it is raised. Keeps a screenshot in the test's folder and
in <repo>/dist/screenshots/dashboard.png.
"""

from __future__ import annotations

import random
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from pymongo import MongoClient

from globalmart.core.runlog import STREAM_PROGRESS, RunLog
from globalmart.core.settings import Settings
from globalmart.gateway.app import create_app
from globalmart.gateway.assets import ensure_assets
from globalmart.gateway.config import GatewayConfig
from globalmart.gateway.encode import iso_utc
from globalmart.gateway.tables import table_specs
from globalmart.gateway.testing import (
    api_rows,
    bump,
    delete_rows,
    insert_rows,
    random_past_minute,
    running_gateway,
    sample_row,
    unique_suffix,
)
from globalmart.stack.base import repo_root
from globalmart.stack.provision import ensure_debian_packages

from .headless_chromium import CHROMIUM_PACKAGE, Browser

SPECS = table_specs()
MINUTES = 30
COUNTRIES = ("US", "GB", "DE", "FR", "JP")
CENT = Decimal("0.01")


# ------------------------------------------------------------------------------ seed data


@dataclass
class Seed:
    start: datetime
    suffix: str
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    query_name: str = ""

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=MINUTES)

    def page_query(self) -> str:
        return f"from={iso_utc(self.start)}&to={iso_utc(self.end)}"


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randrange(low * 100, high * 100)) / 100


def build_seed(start: datetime, suffix: str, now: datetime) -> Seed:
    """Half an hour of plausible rows for every table the page reads; the last windows open."""
    rng = random.Random(suffix)
    seed = Seed(start, suffix, query_name=f"dashboard_test_{suffix}")
    rows = seed.rows
    products = [f"P{rng.randrange(1, 999_999):06d}" for _ in range(12)]

    def window(name: str, at: datetime, minutes: int, n: int, **values: Any) -> dict[str, Any]:
        row = sample_row(SPECS[name], at, n, **values)
        row["window_end"] = at + timedelta(minutes=minutes)
        row["created_at"] = row["updated_at"] = row["window_end"] + timedelta(seconds=20)
        return row

    rows["sales_per_minute"], rows["sales_by_country"], rows["anomaly_stats"] = [], [], []
    for i in range(MINUTES):
        at = start + timedelta(minutes=i)
        final = i < MINUTES - 1
        orders = rng.randrange(18, 61)
        amounts = [_money(rng, 15, 480) for _ in range(orders)]
        high_value = rng.choice((0, 0, 0, 1, 2))
        amounts[:high_value] = [_money(rng, 5_100, 9_900) for _ in range(high_value)]
        revenue = sum(amounts, Decimal(0))
        rows["sales_per_minute"].append(
            window(
                "sales_per_minute",
                at,
                1,
                i,
                transaction_count=orders,
                units_sold=orders * rng.randrange(1, 4),
                total_revenue=revenue,
                avg_order_value=(revenue / orders).quantize(CENT),
                min_order_value=min(amounts),
                max_order_value=max(amounts),
                unique_customers=orders - rng.randrange(0, 4),
                is_final=final,
            )
        )
        shares = [rng.randrange(10, 50) for _ in COUNTRIES]
        left = revenue
        for j, country in enumerate(COUNTRIES):
            part = (
                left
                if j == len(COUNTRIES) - 1
                else (revenue * shares[j] / sum(shares)).quantize(CENT)
            )
            left -= part
            rows["sales_by_country"].append(
                window(
                    "sales_by_country",
                    at,
                    1,
                    j,
                    country=country,
                    total_revenue=part,
                    transaction_count=max(1, orders * shares[j] // sum(shares)),
                    is_final=final,
                )
            )
        high_quantity = rng.choice((0, 0, 1))
        rows["anomaly_stats"].append(
            window(
                "anomaly_stats",
                at,
                1,
                i,
                transaction_count=orders,
                high_value_count=high_value,
                high_quantity_count=high_quantity,
                anomaly_rate=(high_value + high_quantity) / orders,
                anomalous_amount=sum(amounts[:high_value], Decimal(0)),
                is_final=final,
            )
        )

    rows["cart_metrics"] = []
    for w in range(MINUTES // 5):
        at = start + timedelta(minutes=5 * w)
        for j, country in enumerate(COUNTRIES):
            sessions = rng.randrange(40, 160)
            checkouts = rng.randrange(4, sessions // 4)
            abandons = rng.randrange(6, sessions // 3)
            rows["cart_metrics"].append(
                window(
                    "cart_metrics",
                    at,
                    5,
                    j,
                    country=country,
                    session_count=sessions,
                    add_count=sessions * 2,
                    checkout_count=checkouts,
                    abandon_count=abandons,
                    abandonment_rate=abandons / (checkouts + abandons),
                    is_final=w < MINUTES // 5 - 1,
                )
            )

    rows["trending_products"] = []
    for w in range(MINUTES // 10):
        at = start + timedelta(minutes=10 * w)
        for j, product in enumerate(rng.sample(products, 8)):
            views, compares = rng.randrange(5, 90), rng.randrange(0, 12)
            seconds = round(rng.uniform(4, 60), 2)
            rows["trending_products"].append(
                window(
                    "trending_products",
                    at,
                    10,
                    j,
                    product_id=product,
                    category_id=f"C{rng.randrange(1, 101):03d}",
                    view_count=views,
                    compare_count=compares,
                    unique_users=max(1, views - rng.randrange(0, 5)),
                    avg_view_seconds=seconds,
                    engagement_score=round((views + 2 * compares) * seconds / 30 + j / 100, 3),
                    is_final=w < MINUTES // 10 - 1,
                )
            )

    rows["high_value_anomalies"] = []
    for i in range(4):
        at = start + timedelta(minutes=3 + 7 * i, seconds=rng.randrange(60))
        rows["high_value_anomalies"].append(
            sample_row(
                SPECS["high_value_anomalies"],
                at,
                i,
                transaction_id=str(uuid.uuid4()),
                user_id=f"U{rng.randrange(1, 10**8):08d}",
                country=rng.choice(COUNTRIES),
                payment_method=rng.choice(("credit_card", "paypal", "apple_pay")),
                total_amount=_money(rng, 5_100, 9_900),
                threshold=Decimal("5000.00"),
                detected_at=at + timedelta(seconds=4),
            )
        )

    rows["restock_alerts"] = []
    for i in range(3):
        at = start + timedelta(minutes=5 * (i + 1))
        units = rng.randrange(5, 14)
        rows["restock_alerts"].append(
            window(
                "restock_alerts",
                at,
                5,
                i,
                product_id=products[i],
                country=COUNTRIES[i],
                units_sold=units,
                units_per_minute=units / 5,
                threshold_per_minute=1.0,
                alert_generated_at=at + timedelta(minutes=5, seconds=15),
            )
        )
    rows["high_demand_alerts"] = []
    for i in range(2):
        at = start + timedelta(minutes=10 * i)
        rows["high_demand_alerts"].append(
            window(
                "high_demand_alerts",
                at,
                10,
                i,
                product_id=products[3 + i],
                units_sold=rng.randrange(20, 40),
                transaction_count=rng.randrange(10, 20),
                threshold=20,
                alert_generated_at=at + timedelta(minutes=10, seconds=15),
            )
        )

    rows["abandoned_carts"] = []
    for i in range(5):
        at = start + timedelta(minutes=2 + 5 * i, seconds=rng.randrange(60))
        rows["abandoned_carts"].append(
            sample_row(
                SPECS["abandoned_carts"],
                at,
                i,
                session_id=f"S-{suffix}-{i}",
                user_id=f"U{rng.randrange(1, 10**8):08d}",
                country=rng.choice(COUNTRIES),
                cart_value=_money(rng, 20, 900),
                item_count=rng.randrange(1, 7),
                last_product_id=rng.choice(products),
                detected_at=at + timedelta(seconds=30),
            )
        )

    kinds = [
        ("high_value_anomaly", "critical", "high_value_anomalies"),
        ("restock", "warning", "restock_alerts"),
        ("high_demand", "info", "high_demand_alerts"),
        ("suspicious_pattern", "warning", "suspicious_patterns"),
    ]
    rows["alerts"] = []
    for i in range(7):
        kind, severity, source = kinds[i % len(kinds)]
        at = start + timedelta(minutes=2 + 4 * i, seconds=rng.randrange(60))
        country = rng.choice(COUNTRIES)
        rows["alerts"].append(
            sample_row(
                SPECS["alerts"],
                at,
                i,
                dedup_key=f"{kind}:{suffix}-{i}",
                alert_type=kind,
                severity=severity,
                title=f"{kind.replace('_', ' ').capitalize()} in {country}",
                message=f"Seeded by the dashboard test {suffix}",
                source_table=source,
                entity_id=products[i % len(products)],
                country=country,
                event_time=at - timedelta(seconds=20),
                details={"test": suffix},
            )
        )

    rows["stream_batch_ledger"] = [
        {
            "query_name": seed.query_name,
            "batch_id": 7,
            "tables": ["sales_per_minute", "sales_by_country"],
            "rows_written": 37,
            "committed_at": now - timedelta(seconds=5),
        }
    ]
    return seed


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def settings(live_stack: Callable[..., Settings]) -> Settings:
    return live_stack("postgres-realtime", "postgres-warehouse", "redis", "ferretdb")


@pytest.fixture(scope="module")
def chromium() -> None:
    """Debian's chromium; installed here when missing (as root), as the stack provisions."""
    ensure_debian_packages("dashboard test", [CHROMIUM_PACKAGE], print)


@pytest.fixture(scope="module")
def seed(settings: Settings) -> Iterator[Seed]:
    now = datetime.now(timezone.utc)
    start = random_past_minute()
    start = start.replace(minute=start.minute - start.minute % 30)  # whole windows of 5 and 10
    data = build_seed(start, unique_suffix(), now)
    inserted: list[str] = []
    progress = {
        "query": data.query_name,
        "batch_id": 7,
        "timestamp": iso_utc(now),
        "input_rows": 250,
        "input_rows_per_second": 12.5,
        "processed_rows_per_second": 80.0,
        "watermark": iso_utc(now - timedelta(seconds=42)),
        "rows_dropped_by_watermark": 3,
        "state_rows": 120,
    }
    try:
        for table, rows in data.rows.items():
            insert_rows(settings, SPECS[table], rows)
            inserted.append(table)
        with RunLog(settings) as runlog:
            runlog.record(STREAM_PROGRESS, progress)
        yield data
    finally:
        for table in inserted:
            delete_rows(settings, SPECS[table], data.rows[table])
        client: MongoClient[dict[str, Any]] = MongoClient(
            settings.mongo_url, serverSelectionTimeoutMS=3000
        )
        with client:
            client[settings.mongo_db][STREAM_PROGRESS].delete_many({"query": data.query_name})


@pytest.fixture(scope="module")
def gateway(settings: Settings, chromium: None) -> Iterator[str]:
    ensure_assets(settings)  # Chart.js (and GraphiQL) bundled from npm into our static files
    config = GatewayConfig(rate_limit_per_second=0, live_poll_seconds=0.3)
    with running_gateway(create_app(settings, config)) as base:
        yield base


@pytest.fixture(scope="module")
def browser(chromium: None) -> Iterator[Browser]:
    with Browser(width=1440, height=900) as chrome:
        yield chrome


# ------------------------------------------------------------------------------ helpers

READ_PAGE = r"""
(() => {
  const text = (el) => (el ? el.textContent.trim() : null);
  const tile = (id) => {
    const out = document.querySelector(`#${id} .value`);
    const sub = text(document.querySelector(`#${id} .sub`));
    return { text: text(out), value: out.dataset.value, sub };
  };
  const table = (id) => [...document.querySelectorAll(`#${id} tbody tr`)].map(
    (tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent.trim()));
  const chart = (id) => {
    const c = window.gmDashboard.charts[id];
    return c ? c.data.datasets.map((d) => ({
      label: d.label,
      points: d.data.map((p) => (typeof p === "object" ? { x: p.x, y: p.y, open: p.open } : p)),
      background: d.backgroundColor,
      pointBackground: d.pointBackgroundColor,
    })) : null;
  };
  const sources = {};
  for (const card of document.querySelectorAll("[data-source]")) {
    const links = [...card.querySelectorAll("a.src")].map((a) => a.getAttribute("href"));
    sources[card.id] = [card.dataset.source, links];
  }
  return {
    tiles: Object.fromEntries(["tile-revenue", "tile-orders", "tile-aov", "tile-conversion",
      "tile-abandonment", "tile-anomalies"].map((id) => [id, tile(id)])),
    trending: table("card-trending"),
    trendingWindow: text(document.querySelector("#card-trending .sub")),
    alertKeys: [...document.querySelectorAll("#card-alerts li[data-key]")].map(
      (li) => li.dataset.key),
    alertsSub: text(document.querySelector("#card-alerts .sub")),
    anomalies: table("card-anomaly-list"),
    restock: table("card-restock"),
    demand: table("card-demand"),
    abandoned: table("card-abandoned"),
    pipeline: table("card-pipeline"),
    components: [...document.querySelectorAll("#card-pipeline .components span")].map(
      (s) => s.textContent),
    countries: window.gmDashboard.state.values.countries,
    revenueChart: chart("chart-revenue"),
    ordersChart: chart("chart-orders"),
    cartsChart: chart("chart-carts"),
    countriesChart: chart("chart-countries"),
    sources,
    refreshes: Number(document.body.dataset.refreshes || 0),
    state: document.body.dataset.state,
  };
})()
"""


def money(value: Decimal) -> str:
    return f"${value.quantize(CENT, rounding=ROUND_HALF_UP):,.2f}"


def percent(ratio: float) -> str:
    # As JavaScript's toFixed(1): the exact binary value, ties away from zero.
    return f"{Decimal(ratio * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


def clock(iso: str) -> str:
    return iso[11:16]


def wait_ready(browser: Browser, minimum_refreshes: int = 1) -> None:
    browser.wait_for(
        f"document.body?.dataset.state === 'ready' && "
        f"Number(document.body.dataset.refreshes) >= {minimum_refreshes}",
        timeout=20,
    )


def keep_screenshot(browser: Browser, tmp_path: Path) -> Path:
    shot = browser.screenshot(tmp_path / "dashboard.png")
    try:
        target = repo_root() / "dist" / "screenshots" / "dashboard.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)
    except OSError:
        pass  # a read-only checkout: the copy in the test's folder is enough
    return shot


# ------------------------------------------------------------------------------ tests


def test_dashboard_shows_what_the_api_returns(
    gateway: str, seed: Seed, browser: Browser, tmp_path: Path
) -> None:
    q = seed.page_query()
    browser.navigate(f"{gateway}/?{q}&refresh=600")
    wait_ready(browser)
    page = browser.evaluate(READ_PAGE)

    # The same range from the REST API; it must also be exactly the rows we seeded.
    sales = api_rows(gateway, "sales_per_minute", f"{q}&sort=window_start&limit=1000")
    assert len(sales) == MINUTES and not sales[-1]["is_final"]
    revenue = sum((Decimal(r["total_revenue"]) for r in sales), Decimal(0))
    assert revenue == sum((r["total_revenue"] for r in seed.rows["sales_per_minute"]), Decimal(0))
    orders = sum(r["transaction_count"] for r in sales)
    tiles = page["tiles"]
    assert tiles["tile-revenue"]["text"] == money(revenue)
    assert Decimal(tiles["tile-revenue"]["value"]) == revenue
    open_revenue = Decimal(sales[-1]["total_revenue"])
    assert tiles["tile-revenue"]["sub"] == (
        f"incl. open window {clock(sales[-1]['window_start'])}: {money(open_revenue)}"
    )
    assert tiles["tile-orders"]["text"] == f"{orders:,}"
    assert int(tiles["tile-orders"]["value"]) == orders
    assert tiles["tile-aov"]["text"] == money(revenue / orders)

    carts = api_rows(gateway, "cart_metrics", f"{q}&limit=1000")
    sessions = sum(r["session_count"] for r in carts)
    checkouts = sum(r["checkout_count"] for r in carts)
    abandons = sum(r["abandon_count"] for r in carts)
    assert len(carts) == len(seed.rows["cart_metrics"])
    assert float(tiles["tile-conversion"]["value"]) == checkouts / sessions
    assert tiles["tile-conversion"]["text"] == percent(checkouts / sessions)
    assert float(tiles["tile-abandonment"]["value"]) == abandons / (checkouts + abandons)
    assert tiles["tile-abandonment"]["text"] == percent(abandons / (checkouts + abandons))

    stats = api_rows(gateway, "anomaly_stats", f"{q}&limit=1000")
    anomalies = sum(r["high_value_count"] + r["high_quantity_count"] for r in stats)
    assert int(tiles["tile-anomalies"]["value"]) == anomalies
    assert tiles["tile-anomalies"]["text"] == f"{anomalies:,}"

    # Charts: one point per window, the open window flagged and drawn lighter / hollow.
    bars = page["revenueChart"][0]
    assert [p["y"] for p in bars["points"]] == [float(r["total_revenue"]) for r in sales]
    assert [p["open"] for p in bars["points"]] == [not r["is_final"] for r in sales]
    assert bars["background"][-1] != bars["background"][0]
    order_line = page["ordersChart"][0]
    assert [p["y"] for p in order_line["points"]] == [r["transaction_count"] for r in sales]
    assert order_line["pointBackground"][-1] == "#fff" != order_line["pointBackground"][0]
    conversion_line = page["cartsChart"][0]["points"]
    assert len(conversion_line) == MINUTES // 5 and conversion_line[-1]["open"]

    by_country: dict[str, Decimal] = {}
    for r in api_rows(gateway, "sales_by_country", f"{q}&limit=1000"):
        by_country[r["country"]] = by_country.get(r["country"], Decimal(0)) + Decimal(
            r["total_revenue"]
        )
    expected_countries = sorted(by_country.items(), key=lambda kv: (-kv[1], kv[0]))
    assert [(c["country"], Decimal(c["revenue"])) for c in page["countries"]] == expected_countries
    assert sum(by_country.values()) == revenue  # the per-country split adds up

    newest = api_rows(gateway, "trending_products", f"{q}&sort=-window_start&limit=1")[0]
    trending = httpx.get(
        f"{gateway}/api/v1/trending_products?from={newest['window_start']}"
        f"&to={newest['window_end']}&sort=-engagement_score&limit=10"
    ).json()["data"]
    assert [row[1] for row in page["trending"]] == [r["product_id"] for r in trending]
    assert [row[3] for row in page["trending"]] == [f"{r['view_count']:,}" for r in trending]
    assert page["trendingWindow"].startswith(f"window {clock(newest['window_start'])}")

    alerts = api_rows(gateway, "alerts", f"{q}&sort=-alert_generated_at&limit=200")
    assert page["alertKeys"] == [r["dedup_key"] for r in alerts]
    assert len(alerts) == 7
    severities = [r["severity"] for r in alerts]
    assert page["alertsSub"] == (
        f"7 in range: {severities.count('critical')} critical, "
        f"{severities.count('warning')} warning, {severities.count('info')} info"
    )

    hva = api_rows(gateway, "high_value_anomalies", f"{q}&sort=-event_time&limit=10")
    assert [row[1] for row in page["anomalies"]] == [r["transaction_id"] for r in hva]
    assert [row[4] for row in page["anomalies"]] == [money(Decimal(r["total_amount"])) for r in hva]
    restock = api_rows(gateway, "restock_alerts", f"{q}&limit=10")
    assert [(row[1], row[2], row[3]) for row in page["restock"]] == [
        (r["product_id"], r["country"], str(r["units_sold"])) for r in restock
    ]
    demand = api_rows(gateway, "high_demand_alerts", f"{q}&limit=10")
    assert [(row[1], row[2]) for row in page["demand"]] == [
        (r["product_id"], str(r["units_sold"])) for r in demand
    ]
    abandoned = api_rows(gateway, "abandoned_carts", f"{q}&limit=10")
    assert [(row[1], row[4]) for row in page["abandoned"]] == [
        (r["user_id"], money(Decimal(r["cart_value"]))) for r in abandoned
    ]

    # Pipeline health: the seeded ledger row and progress report, and the component checks.
    pipeline = httpx.get(f"{gateway}/api/v1/pipeline_health").json()
    ours = next(x for x in pipeline["queries"] if x["query_name"] == seed.query_name)
    assert ours["batches_recent"] == 1 and ours["rows_recent"] == 37
    assert 40 <= ours["event_time_lag_seconds"] < 100
    row = next(r for r in page["pipeline"] if r[0] == seed.query_name)
    assert row[1] == "sales_per_minute, sales_by_country" and row[2] == "7"
    assert row[4] == "1 / 37" and row[7] == "3"
    assert row[5].endswith(" s") and 40 <= int(row[5][:-2]) < 100
    for check in ("postgres_realtime: ok", "postgres_warehouse: ok", "redis: ok"):
        assert check in page["components"]

    # Traceability: each card names one table and links the exact request it drew.
    for card, (table, links) in page["sources"].items():
        assert table in SPECS or table == "pipeline_health", card
        assert links and all(link.startswith(f"/api/v1/{table}") for link in links), card

    # Served from our own files only: the page, its module and the Chart.js bundle.
    html = httpx.get(f"{gateway}/").text
    assert html == httpx.get(f"{gateway}/dashboard").text
    assert '<script src="/static/vendor/charts.js">' in html
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    assert httpx.get(f"{gateway}/static/vendor/charts.js").status_code == 200

    assert page["state"] == "ready"
    assert browser.console_errors == []
    shot = keep_screenshot(browser, tmp_path)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000


def test_dashboard_updates_live(
    gateway: str, settings: Settings, seed: Seed, browser: Browser
) -> None:
    # Pinned to the seeded range, with the timer out of the way: only SSE can refresh the page.
    browser.navigate(f"{gateway}/?{seed.page_query()}&refresh=600")
    wait_ready(browser)
    browser.wait_for("document.getElementById('live').textContent === 'live'", timeout=10)
    before = browser.evaluate("Number(document.body.dataset.refreshes)")

    # The open window closes with more revenue, and an alert is raised now (pushed over SSE).
    last = seed.rows["sales_per_minute"][-1]
    closed_revenue = last["total_revenue"] + Decimal("1000.00")
    spec = SPECS["sales_per_minute"]
    with psycopg.connect(settings.postgres_dsn(spec.database), connect_timeout=10) as conn:
        conn.execute(
            "UPDATE sales_per_minute SET total_revenue = %s, is_final = true "
            "WHERE window_start = %s AND window_end = %s",
            (closed_revenue, last["window_start"], last["window_end"]),
        )
    bump(settings, spec.database)
    alert = sample_row(
        SPECS["alerts"],
        datetime.now(timezone.utc),
        0,
        dedup_key=f"dashboard_test:{seed.suffix}-live",
        severity="warning",
        title="Live alert from the dashboard test",
        country="ZZ",
        event_time=None,
    )
    insert_rows(settings, SPECS["alerts"], [alert])
    try:
        expected = sum(
            (r["total_revenue"] for r in seed.rows["sales_per_minute"][:-1]), closed_revenue
        )
        browser.wait_for(
            "document.querySelector('#tile-revenue .value').dataset.value",
            timeout=15,
            accept=lambda value: value is not None and value != "" and Decimal(value) == expected,
        )
        assert browser.evaluate("Number(document.body.dataset.liveEvents)") >= 1
        # The pushed event also refreshes every other card (throttled), without the timer.
        browser.wait_for(f"Number(document.body.dataset.refreshes) > {before}", timeout=10)
        sub = browser.evaluate("document.querySelector('#tile-revenue .sub').textContent")
        assert sub == f"{MINUTES} windows, all final"

        # Live mode: a new alert shows up as it is raised, marked as pushed.
        browser.navigate(f"{gateway}/?range=15m&refresh=600")
        wait_ready(browser)
        browser.wait_for("document.getElementById('live').textContent === 'live'", timeout=10)
        second = dict(alert, dedup_key=f"dashboard_test:{seed.suffix}-live2")
        second["alert_generated_at"] = datetime.now(timezone.utc)
        insert_rows(settings, SPECS["alerts"], [second])
        try:
            selector = f"#card-alerts li.live[data-key='{second['dedup_key']}']"
            browser.wait_for(f'!!document.querySelector("{selector}")', timeout=10)
        finally:
            delete_rows(settings, SPECS["alerts"], [second])
    finally:
        delete_rows(settings, SPECS["alerts"], [alert])
    assert browser.console_errors == []
