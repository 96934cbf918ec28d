"""`globalmart demo --duration`: data reaches every real-time table, the warehouse after the batch,
the REST and GraphQL endpoints and the dashboard page, and everything stops by itself."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import psycopg
from psycopg import sql

from globalmart.core.settings import Settings, get_settings
from globalmart.schemas.catalog import load_catalog
from globalmart.stack import stack

DURATION = 150


def _rows(settings: Settings, database: str, table: str, where: sql.Composable | None = None) -> int:
    query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
    if where is not None:
        query = sql.SQL("{} WHERE {}").format(query, where)
    with psycopg.connect(settings.postgres_dsn(database, reader=True)) as conn:
        row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


def _realtime_tables() -> list[str]:
    return [
        e.name for e in load_catalog().tables("realtime") if e.latest.table_type != "support"
    ]


def test_demo_runs_the_whole_pipeline(live_stack: Callable[..., Settings]) -> None:
    settings = live_stack(*stack.component_names(get_settings()))
    tables = _realtime_tables()
    assert len(tables) == 18
    started = datetime.now(UTC)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    # A small catalogue so that per-product thresholds (high demand, restock) trigger quickly.
    demo = subprocess.Popen(
        [sys.executable, "-m", "globalmart.cli.main", "demo", "--duration", str(DURATION),
         "--rate", "300", "--users", "300", "--products", "40", "--seed", "11", "--refresh", "5"],
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
        output, _ = demo.communicate(timeout=DURATION + 600)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 0, output[-4000:]
    assert seen == {"rest": True, "graphql": True, "dashboard": True}, (seen, output[-3000:])

    empty = [t for t in tables if _rows(settings, "realtime", t) == 0]
    assert empty == [], f"no rows in {empty}\n{output[-3000:]}"
    today = sql.SQL("date_key = {}").format(sql.Literal(int(started.strftime("%Y%m%d"))))
    assert _rows(settings, "warehouse", "fact_sales", today) > 0, output[-3000:]
    # Everything the demo started is gone again.
    assert not httpx_up(api)


def httpx_up(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
        return True
    except httpx.HTTPError:
        return False
