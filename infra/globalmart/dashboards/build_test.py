"""The committed dashboard JSON is what the builders render, and is well-formed for Grafana."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from globalmart.dashboards.build import dashboards_dir, load_all, queries, stale
from globalmart.dashboards.definitions import DASHBOARDS
from globalmart.dashboards.grafana import DATASOURCE_UIDS, GRID_WIDTH, PARTIAL_SUFFIX
from globalmart.stack.base import infra_file

SPEC_TITLES = {"System Health", "Data Ingestion", "Stream Processing", "Real-Time Business Metrics"}


@pytest.fixture(scope="module")
def boards() -> dict[str, dict[str, Any]]:
    return load_all()


def test_json_files_are_up_to_date(boards: dict[str, dict[str, Any]]) -> None:
    assert set(boards) == set(DASHBOARDS)
    assert stale() == [], "run: python -m globalmart.dashboards.build"


def test_the_four_spec_dashboards(boards: dict[str, dict[str, Any]]) -> None:
    titles = {board["title"].split(" · ", 1)[1] for board in boards.values()}
    assert titles == SPEC_TITLES
    uids = [board["uid"] for board in boards.values()]
    assert len(set(uids)) == len(uids)
    for board in boards.values():
        assert board["timezone"] == "utc"


def test_layout_and_ids(boards: dict[str, dict[str, Any]]) -> None:
    for board in boards.values():
        ids = [panel["id"] for panel in board["panels"]]
        assert len(set(ids)) == len(ids), board["title"]
        for panel in board["panels"]:
            grid = panel["gridPos"]
            assert 0 <= grid["x"] and grid["x"] + grid["w"] <= GRID_WIDTH, panel["title"]
            if panel["type"] != "row":
                assert panel["targets"], f"{board['title']}: {panel['title']} has no query"
                refs = [t["refId"] for t in panel["targets"]]
                assert len(set(refs)) == len(refs), panel["title"]


def test_every_query_uses_a_provisioned_datasource(boards: dict[str, dict[str, Any]]) -> None:
    provisioned = yaml.safe_load(
        infra_file("grafana/provisioning/datasources/globalmart.yaml").read_text()
    )
    uids = {ds["uid"] for ds in provisioned["datasources"]}
    assert uids == DATASOURCE_UIDS
    used = {q.datasource for board in boards.values() for q in queries(board)}
    assert used <= uids
    assert used == uids, f"a provisioned datasource no dashboard uses: {uids - used}"


def test_sql_on_real_time_tables_is_time_filtered(boards: dict[str, dict[str, Any]]) -> None:
    # Grafana on big tables gets slow: every query of a table is bounded by the time range.
    for board in boards.values():
        for query in queries(board):
            if query.language != "sql" or "pg_stat" in query.text or "pg_database" in query.text:
                continue
            froms = len(re.findall(r"\bFROM\s+[a-z_]+", query.text))
            filters = query.text.count("$__timeFilter(")
            assert filters >= froms, f"{query.dashboard}: {query.panel}: {query.text}"


def test_open_windows_are_drawn_as_partial(boards: dict[str, dict[str, Any]]) -> None:
    board = boards["business-metrics"]
    windowed = [
        panel
        for panel in board["panels"]
        if panel["type"] == "timeseries"
        and any("is_final" in t.get("rawSql", "") for t in panel["targets"])
    ]
    assert len(windowed) >= 4
    for panel in windowed:
        partial = [t for t in panel["targets"] if PARTIAL_SUFFIX in t["rawSql"]]
        assert partial and all("NOT" in t["rawSql"] for t in partial), panel["title"]
        matchers = [o["matcher"]["options"] for o in panel["fieldConfig"]["overrides"]]
        assert any(re.search(m, f"revenue {PARTIAL_SUFFIX}") for m in matchers), panel["title"]
    names = [a["name"] for a in board["annotations"]["list"]]
    assert "Open window (partial)" in names


def test_dashboards_folder_matches_the_provider() -> None:
    provider = yaml.safe_load(
        infra_file("grafana/provisioning/dashboards/globalmart.yaml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == "${GLOBALMART_DASHBOARDS_DIR}"
    assert dashboards_dir().name == "dashboards" and dashboards_dir().parent.name == "grafana"
