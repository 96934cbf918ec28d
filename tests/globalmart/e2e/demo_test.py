"""`globalmart demo --duration`: data reaches every real-time table, the warehouse after the batch,
the REST and GraphQL endpoints and the dashboard page, and everything stops by itself.

Then the web dashboard is loaded in headless Chromium over what the demo's stream jobs wrote
(not seeded rows), pinned to the demo's time range: its tiles must equal the REST API's figures
for the same range, with no console errors; a screenshot is kept.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

from globalmart.core.settings import Settings, get_settings
from globalmart.gateway.app import create_app
from globalmart.gateway.assets import ensure_assets
from globalmart.gateway.config import GatewayConfig
from globalmart.gateway.encode import iso_utc
from globalmart.gateway.testing import api_rows, running_gateway
from globalmart.integration.headless_chromium import CHROMIUM_PACKAGE, Browser
from globalmart.schemas.catalog import load_catalog
from globalmart.stack import stack
from globalmart.stack.base import repo_root
from globalmart.stack.provision import ensure_debian_packages
from globalmart.stream.sinks import sink

DURATION = 150
SPEC_TABLES = (
    "sales_per_minute", "sales_by_country",
    "cart_sessions", "abandoned_carts", "cart_metrics",
    "trending_products", "category_performance", "search_behavior", "browsing_sessions",
    "high_value_anomalies", "high_quantity_anomalies", "suspicious_patterns", "anomaly_stats",
    "product_sales_velocity", "inventory_by_country", "high_demand_alerts", "restock_alerts",
    "inventory_metrics",
)  # fmt: skip


def _rows(
    settings: Settings, database: str, table: str, where: sql.Composable | None = None
) -> int:
    query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
    if where is not None:
        query = sql.SQL("{} WHERE {}").format(query, where)
    with psycopg.connect(settings.postgres_dsn(database, reader=True)) as conn:
        row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


def _since(table: str, started: datetime) -> sql.Composable:
    """Rows this run wrote: the table's processing-time column is after the demo started."""
    columns = sink(table).columns
    column = next(c for c in ("updated_at", "detected_at", "alert_generated_at") if c in columns)
    return sql.SQL("{} >= {}").format(sql.Identifier(column), sql.Literal(started))


def _realtime_tables() -> list[str]:
    return [e.name for e in load_catalog().tables("realtime") if e.latest.table_type != "support"]


def test_demo_runs_the_whole_pipeline(live_stack: Callable[..., Settings], tmp_path: Path) -> None:
    settings = live_stack(*stack.component_names(get_settings()))
    ensure_debian_packages("demo test", [CHROMIUM_PACKAGE], print)
    ensure_assets(settings)
    tables = _realtime_tables()
    # the spec's 18 tables, plus the alerts the anomaly and inventory jobs raise
    assert sorted(tables) == sorted([*SPEC_TABLES, "alerts"])
    started = datetime.now(UTC)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    # A small catalogue so that per-product thresholds (high demand, restock) trigger quickly.
    demo = subprocess.Popen(
        [sys.executable, "-m", "globalmart.cli.main", "demo", "--duration", str(DURATION),
         "--rate", "300", "--users", "300", "--products", "40", "--refresh", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    api = f"http://{settings.api_host}:{settings.api_port}"
    seen: dict[str, bool] = {}
    try:
        deadline = time.monotonic() + DURATION + 60
        while time.monotonic() < deadline and demo.poll() is None and len(seen) < 3:
            time.sleep(5)
            try:
                rest = httpx.get(f"{api}/api/v1/sales_per_minute", params={"limit": 5}, timeout=5)
                if rest.status_code == 200 and rest.json().get("data"):
                    seen["rest"] = True
                gql = httpx.post(
                    f"{api}/graphql",
                    json={"query": "{ sales_per_minute(first: 3) { items { total_revenue } } }"},
                    timeout=5,
                )
                if gql.status_code == 200 and "errors" not in gql.json():
                    seen["graphql"] = True
                page = httpx.get(f"{api}/", timeout=5)
                if page.status_code == 200 and "GlobalMart" in page.text:
                    seen["dashboard"] = True
            except httpx.HTTPError:
                continue
        output, _ = demo.communicate(timeout=DURATION + 900)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 0, output[-4000:]
    assert seen == {"rest": True, "graphql": True, "dashboard": True}, (seen, output[-3000:])

    # rows written by this run (a new seed each run: new event ids, so new anomaly rows too)
    empty = [t for t in tables if _rows(settings, "realtime", t, _since(t, started)) == 0]
    assert empty == [], f"no rows in {empty}\n{output[-3000:]}"
    today = sql.SQL("date_key = {}").format(sql.Literal(int(started.strftime("%Y%m%d"))))
    assert _rows(settings, "warehouse", "fact_sales", today) > 0, output[-3000:]
    # this run's purchases reached the warehouse: its high-value orders are order lines there
    with psycopg.connect(settings.postgres_dsn("realtime", reader=True)) as conn:
        found = conn.execute(
            sql.SQL("SELECT transaction_id, event_time FROM high_value_anomalies WHERE {}").format(
                _since("high_value_anomalies", started)
            )
        ).fetchall()
    batch_day = datetime.now(UTC).date()  # the demo's final batch ran for its "today"
    orders = sorted({r[0] for r in found if r[1].astimezone(UTC).date() == batch_day})
    assert orders
    with psycopg.connect(settings.postgres_dsn("warehouse", reader=True)) as conn:
        loaded = conn.execute(
            "SELECT count(DISTINCT transaction_id) FROM fact_sales WHERE transaction_id = ANY(%s)",
            (orders,),
        ).fetchone()
    assert loaded is not None and loaded[0] == len(orders), (loaded, len(orders))
    # Everything the demo started is gone again.
    assert not httpx_up(api)
    _dashboard_matches_the_api(settings, started, tmp_path)


READY = "document.body?.dataset.state === 'ready' && Number(document.body.dataset.refreshes) >= 1"
TILES = r"""
(() => Object.fromEntries(["tile-revenue", "tile-orders", "tile-conversion", "tile-anomalies"]
  .map((id) => [id, document.querySelector(`#${id} .value`).dataset.value])))()
"""


def _dashboard_matches_the_api(settings: Settings, started: datetime, tmp_path: Path) -> None:
    # from the start of the 10-minute window the demo began in: the range then holds whole
    # windows of every length the tiles read (1-minute sales, 5-minute cart metrics)
    start = started.replace(minute=started.minute - started.minute % 10, second=0, microsecond=0)
    query = f"from={iso_utc(start)}&to={iso_utc(datetime.now(UTC) + timedelta(minutes=15))}"
    config = GatewayConfig(rate_limit_per_second=0)
    with running_gateway(create_app(settings, config)) as base, Browser() as browser:
        browser.navigate(f"{base}/?{query}&refresh=600")
        browser.wait_for(READY, timeout=60)
        tiles = browser.evaluate(TILES)
        sales = api_rows(base, "sales_per_minute", f"{query}&limit=1000")
        carts = api_rows(base, "cart_metrics", f"{query}&limit=1000")
        stats = api_rows(base, "anomaly_stats", f"{query}&limit=1000")
        shot = browser.screenshot(tmp_path / "dashboard-demo.png")
        errors = list(browser.console_errors)
    revenue = sum((Decimal(r["total_revenue"]) for r in sales), Decimal(0))
    orders = sum(r["transaction_count"] for r in sales)
    assert revenue > 0 and orders > 0
    assert Decimal(tiles["tile-revenue"]) == revenue
    assert int(tiles["tile-orders"]) == orders
    sessions = sum(r["session_count"] for r in carts)
    checkouts = sum(r["checkout_count"] for r in carts)
    assert sessions > 0 and float(tiles["tile-conversion"]) == checkouts / sessions
    anomalies = sum(r["high_value_count"] + r["high_quantity_count"] for r in stats)
    assert int(tiles["tile-anomalies"]) == anomalies
    assert errors == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    try:
        target = repo_root() / "dist" / "screenshots" / "dashboard-demo.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(shot.read_bytes())
    except OSError:
        pass  # a read-only checkout: the copy in the test's folder is enough


def httpx_up(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
        return True
    except httpx.HTTPError:
        return False
