"""Every dashboard query works against the real system.

SQL panels run (Grafana macros expanded by globalmart.dashboards.sqlmacros) on the real schemas
through the read-only role Grafana uses, and their time filters hit an index. PromQL panels may
only name metrics that something exports: the services' prometheus_client definitions (read from
their source, so services not running now count), the Kafka JMX exporter and Prometheus itself
(asked live), and the series Prometheus adds per target (`up`, ...).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest

from globalmart.core.settings import Settings
from globalmart.dashboards.build import Query, load_all, queries
from globalmart.dashboards.exporters import (
    SCRAPE_SERIES,
    definitions_in_tree,
    exposed_names,
    names_in_exposition,
)
from globalmart.dashboards.promql import metric_names
from globalmart.dashboards.sqlmacros import to_postgres
from globalmart.stack.base import repo_root

DATABASES = {"gm-realtime": "realtime", "gm-warehouse": "warehouse"}
#: where services define their metrics (the scan reads the checkout: new services count at once)
METRIC_SOURCE_ROOTS = ("services", "spark", "warehouse", "tools")


def _all_queries() -> list[Query]:
    return [q for board in load_all().values() for q in queries(board)]


@pytest.fixture(scope="module")
def settings(live_stack: Callable[..., Settings]) -> Settings:
    return live_stack("postgres-realtime", "postgres-warehouse", "kafka", "prometheus")


@pytest.fixture(scope="module")
def readers(settings: Settings) -> Iterator[dict[str, psycopg.Connection[Any]]]:
    conns = {
        uid: psycopg.connect(settings.postgres_dsn(db, reader=True), autocommit=True)
        for uid, db in DATABASES.items()
    }
    for conn in conns.values():
        conn.execute("SET statement_timeout = '10s'")
    yield conns
    for conn in conns.values():
        conn.close()


def test_every_sql_query_runs_as_the_reader(readers: dict[str, psycopg.Connection[Any]]) -> None:
    sql_queries = [q for q in _all_queries() if q.language == "sql"]
    assert len(sql_queries) >= 30
    failures = []
    for query in sql_queries:
        text = to_postgres(query.text)
        try:
            cursor = readers[query.datasource].execute(text)  # type: ignore[call-overload]
        except psycopg.Error as error:
            failures.append(f"{query.dashboard} / {query.panel} [{query.ref}]: {error}\n  {text}")
            continue
        assert cursor.description is not None
        columns = [column.name for column in cursor.description]
        # Grafana needs a "time" column to draw a time series (and to place an annotation).
        if query.format == "time_series" or query.panel.startswith("annotation:"):
            if "time" not in columns:
                failures.append(f"{query.dashboard} / {query.panel}: no time column {columns}")
    assert not failures, "\n".join(failures)


def test_time_filters_hit_an_index(readers: dict[str, psycopg.Connection[Any]]) -> None:
    # "Grafana on raw tables gets slow": each filtered column leads an index of its table.
    indexes: dict[str, list[str]] = {}
    for table, definition in readers["gm-realtime"].execute(
        "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public'"
    ):
        leading = re.search(r"\(([a-z_]+)", definition)
        if leading:
            indexes.setdefault(table, []).append(leading.group(1))
    checked = 0
    for query in _all_queries():
        if query.datasource != "gm-realtime" or query.language != "sql":
            continue
        for table, column in re.findall(
            r"FROM\s+([a-z_]+)\s+WHERE\s+\$__timeFilter\(([a-z_]+)\)", query.text
        ):
            assert column in indexes.get(table, []), f"{query.panel}: {table}.{column} unindexed"
            checked += 1
    assert checked >= 25


def test_every_promql_metric_is_exported(settings: Settings) -> None:
    sources = [repo_root() / root for root in METRIC_SOURCE_ROOTS]
    exported = exposed_names(definitions_in_tree(p for p in sources if p.is_dir()))
    assert "gm_stream_input_rows_total" in exported  # the scan itself works
    live = {
        "kafka JMX exporter": f"http://{settings.kafka_host}:{settings.kafka_jmx_exporter_port}",
        "prometheus": f"http://{settings.prometheus_host}:{settings.prometheus_port}",
    }
    for name, base in live.items():
        response = httpx.get(f"{base}/metrics", timeout=10.0, trust_env=False)
        assert response.status_code == 200, name
        exported |= names_in_exposition(response.text)
    exported |= SCRAPE_SERIES

    promql = [q for q in _all_queries() if q.language == "promql"]
    assert len(promql) >= 40
    missing = {
        f"{q.dashboard} / {q.panel}: {sorted(metric_names(q.text) - exported)}"
        for q in promql
        if metric_names(q.text) - exported
    }
    assert not missing, "metrics nobody exports:\n" + "\n".join(sorted(missing))
    assert all(metric_names(q.text) for q in promql), "a PromQL query that reads no metric"
