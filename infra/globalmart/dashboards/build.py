"""Render the dashboards into infra/grafana/dashboards/*.json, and read panel queries back.

    python -m globalmart.dashboards.build            # rewrite the JSON files
    python -m globalmart.dashboards.build --check    # exit 1 if a file is out of date

The JSON files are what Grafana loads (through provisioning/dashboards/globalmart.yaml); a test
keeps them equal to what this module renders.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from globalmart.dashboards.definitions import DASHBOARDS
from globalmart.dashboards.grafana import Json
from globalmart.stack.base import infra_file


def dashboards_dir() -> Path:
    return infra_file("grafana/dashboards")


def render(name: str) -> str:
    return json.dumps(DASHBOARDS[name](), indent=2, ensure_ascii=False) + "\n"


def write_all(folder: Path | None = None) -> list[Path]:
    folder = folder or dashboards_dir()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in DASHBOARDS:
        path = folder / f"{name}.json"
        path.write_text(render(name), encoding="utf-8")
        written.append(path)
    return written


def stale(folder: Path | None = None) -> list[str]:
    """Names of dashboards whose JSON file differs from what `render` produces."""
    folder = folder or dashboards_dir()
    out = []
    for name in DASHBOARDS:
        path = folder / f"{name}.json"
        if not path.exists() or path.read_text(encoding="utf-8") != render(name):
            out.append(name)
    return out


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    ref: str
    datasource: str  # uid
    language: str  # "promql" or "sql"
    text: str
    format: str = ""  # sql only: time_series or table


def queries(board: Json) -> Iterator[Query]:
    """Every query of a dashboard JSON: panel targets (rows' nested panels too) and annotations."""
    title = str(board.get("title", ""))
    panels: list[Json] = []
    for panel in board.get("panels", []):
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    targets = [(p.get("title", ""), t) for p in panels for t in p.get("targets", [])]
    for item in board.get("annotations", {}).get("list", []):
        if "target" in item:
            targets.append((f"annotation: {item.get('name', '')}", item["target"]))
    for panel_title, target in targets:
        uid = str((target.get("datasource") or {}).get("uid", ""))
        if "expr" in target:
            yield Query(title, panel_title, target.get("refId", ""), uid, "promql", target["expr"])
        elif "rawSql" in target:
            yield Query(
                title,
                panel_title,
                target.get("refId", ""),
                uid,
                "sql",
                target["rawSql"],
                target.get("format", "time_series"),
            )


def load_all(folder: Path | None = None) -> dict[str, Json]:
    folder = folder or dashboards_dir()
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(folder.glob("*.json"))
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "--check" in args:
        out_of_date = stale()
        for name in out_of_date:
            print(f"{name}.json is out of date: python -m globalmart.dashboards.build")
        return 1 if out_of_date else 0
    for path in write_all():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
