"""Small builders for Grafana dashboard JSON (schema 39: Grafana 10.x and 11.x).

Only what our dashboards use: time series, stats, tables, bar gauges and rows, laid out left to
right on Grafana's 24-column grid. Datasources are referenced by the fixed uids that
infra/grafana/provisioning/datasources/globalmart.yaml gives them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]

POSTGRES_TYPE = "grafana-postgresql-datasource"
PROMETHEUS: Json = {"type": "prometheus", "uid": "gm-prometheus"}
REALTIME: Json = {"type": POSTGRES_TYPE, "uid": "gm-realtime"}
WAREHOUSE: Json = {"type": POSTGRES_TYPE, "uid": "gm-warehouse"}
DATASOURCE_UIDS = frozenset({PROMETHEUS["uid"], REALTIME["uid"], WAREHOUSE["uid"]})

SCHEMA_VERSION = 39
GRID_WIDTH = 24
#: series whose name matches this are drawn as "partial": the window is still open
PARTIAL_SUFFIX = "(open window, partial)"


def prom(expr: str, legend: str = "", ref: str = "A", *, instant: bool = False) -> Json:
    return {
        "refId": ref,
        "datasource": PROMETHEUS,
        "expr": expr,
        "legendFormat": legend or "__auto",
        "range": not instant,
        "instant": instant,
        "editorMode": "code",
    }


def sql(raw: str, ref: str = "A", *, datasource: Json = REALTIME, table: bool = False) -> Json:
    """A PostgreSQL query; time-series format needs a column named "time"."""
    return {
        "refId": ref,
        "datasource": datasource,
        "rawSql": " ".join(raw.split()),
        "format": "table" if table else "time_series",
        "rawQuery": True,
        "editorMode": "code",
    }


def partial_override() -> Json:
    """Draw the still-open window's series dashed and orange: its totals are still growing."""
    return {
        "matcher": {"id": "byRegexp", "options": f".*{_regex_escape(PARTIAL_SUFFIX)}.*"},
        "properties": [
            {"id": "color", "value": {"mode": "fixed", "fixedColor": "orange"}},
            {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [6, 4]}},
            {"id": "custom.drawStyle", "value": "points"},
            {"id": "custom.pointSize", "value": 8},
        ],
    }


def _regex_escape(text: str) -> str:
    return "".join(f"\\{c}" if c in "()[].*+?^$|\\" else c for c in text)


def thresholds(*steps: tuple[float | None, str]) -> Json:
    return {"mode": "absolute", "steps": [{"value": v, "color": c} for v, c in steps]}


def value_text(mapping: Mapping[str, tuple[str, str]]) -> list[Json]:
    """Value mappings: raw value -> (text, color)."""
    return [
        {
            "type": "value",
            "options": {
                raw: {"text": text, "color": color, "index": i}
                for i, (raw, (text, color)) in enumerate(mapping.items())
            },
        }
    ]


@dataclass
class Panel:
    kind: str  # timeseries, stat, table, bargauge, piechart
    title: str
    targets: Sequence[Json]
    description: str = ""
    unit: str = ""
    width: int = 12
    height: int = 8
    decimals: int | None = None
    min: float | None = None
    max: float | None = None
    stacked: bool = False
    bars: bool = False
    mappings: list[Json] = field(default_factory=list)
    threshold_steps: Json | None = None
    overrides: list[Json] = field(default_factory=list)
    options: Json = field(default_factory=dict)
    color_mode: str = ""

    def to_json(self, panel_id: int, x: int, y: int) -> Json:
        datasources = {t["datasource"]["uid"] for t in self.targets}
        defaults: Json = {"unit": self.unit} if self.unit else {}
        for key in ("decimals", "min", "max"):
            if getattr(self, key) is not None:
                defaults[key] = getattr(self, key)
        if self.mappings:
            defaults["mappings"] = self.mappings
        if self.threshold_steps:
            defaults["thresholds"] = self.threshold_steps
        if self.color_mode:
            defaults["color"] = {"mode": self.color_mode}
        if self.kind == "timeseries":
            defaults["custom"] = {
                "drawStyle": "bars" if self.bars else "line",
                "lineWidth": 1,
                "fillOpacity": 60 if self.bars else 10,
                "showPoints": "never",
                "spanNulls": False,
                "stacking": {"mode": "normal" if self.stacked else "none", "group": "A"},
            }
        options = dict(self.options)
        if self.kind == "timeseries":
            options.setdefault("legend", {"displayMode": "list", "placement": "bottom"})
            options.setdefault("tooltip", {"mode": "multi", "sort": "desc"})
        elif self.kind == "stat":
            options.setdefault(
                "reduceOptions", {"calcs": ["lastNotNull"], "fields": "", "values": False}
            )
            options.setdefault("colorMode", "value" if self.threshold_steps else "none")
            options.setdefault("graphMode", "none")
        return {
            "id": panel_id,
            "type": self.kind,
            "title": self.title,
            "description": self.description,
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
            # One datasource per panel, or Grafana's "-- Mixed --" when a panel needs several.
            "datasource": (
                self.targets[0]["datasource"]
                if len(datasources) == 1
                else {"type": "datasource", "uid": "-- Mixed --"}
            ),
            "targets": list(self.targets),
            "fieldConfig": {"defaults": defaults, "overrides": list(self.overrides)},
            "options": options,
        }


@dataclass
class Row:
    title: str


def annotation(name: str, target: Json, color: str, *, enable: bool = True) -> Json:
    return {
        "name": name,
        "datasource": target["datasource"],
        "enable": enable,
        "iconColor": color,
        "target": target,
    }


def dashboard(
    uid: str,
    title: str,
    description: str,
    items: Iterable[Panel | Row],
    *,
    annotations: Sequence[Json] = (),
    refresh: str = "10s",
    time_from: str = "now-1h",
) -> Json:
    """Lay the panels out left to right, wrapping at the grid width; a Row starts a new line."""
    panels: list[Json] = []
    x = y = line_height = 0
    for panel_id, item in enumerate(items, start=1):
        if isinstance(item, Row):
            y += line_height
            panels.append(
                {
                    "id": panel_id,
                    "type": "row",
                    "title": item.title,
                    "collapsed": False,
                    "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
                    "panels": [],
                }
            )
            x, y, line_height = 0, y + 1, 0
            continue
        if x + item.width > GRID_WIDTH:
            x, y, line_height = 0, y + line_height, 0
        panels.append(item.to_json(panel_id, x, y))
        x += item.width
        line_height = max(line_height, item.height)
    builtin = {
        "builtIn": 1,
        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True,
        "hide": True,
        "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts",
        "type": "dashboard",
    }
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["globalmart"],
        "timezone": "utc",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": refresh,
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "annotations": {"list": [builtin, *annotations]},
        "templating": {"list": []},
        "links": [
            {
                "type": "dashboards",
                "tags": ["globalmart"],
                "asDropdown": True,
                "title": "GlobalMart",
                "includeVars": False,
                "keepTime": True,
            }
        ],
        "panels": panels,
    }
