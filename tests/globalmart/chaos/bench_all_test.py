"""`bench all --only api --json` on the live stack: the bench runs, its JSON result and Markdown
report are written, and the figures in them are the ones the bench measured."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from globalmart.cli import bench_cmd
from globalmart.core.settings import Settings


def test_bench_all_only_api_writes_json_and_markdown(
    live_stack: Callable[..., Settings], tmp_path: Path
) -> None:
    live_stack("postgres-realtime", "postgres-warehouse", "redis", "apicurio", "ferretdb")
    result = CliRunner().invoke(
        bench_cmd.app, ["all", "--only", "api", "--out", str(tmp_path), "--json"]
    )
    assert result.exit_code == 0, result.output
    (json_file,) = tmp_path.glob("bench-*.json")
    (md_file,) = tmp_path.glob("bench-*.md")
    saved = json.loads(json_file.read_text())
    assert list(saved["benches"]) == ["api"]
    api = saved["benches"]["api"]
    assert api["ok"], api
    cached = api["result"]["cached_get"]
    assert cached["requests"] > 0 and cached["errors"] == 0 and cached["p99_ms"] > 0
    # a real page is cached (rows seeded when the stack is fresh), not an empty list
    assert api["result"]["page_bytes"] > 50 * 100, api["result"]["page_bytes"]
    assert api["result"]["redis_get"]["p99_ms"] > 0
    assert saved["machine"]["cores"] >= 1 and saved["machine"]["memory_gib"] > 0
    assert saved["versions"]["redis"] and saved["versions"]["kafka"]
    (p99,) = [h for h in saved["headlines"] if h["figure"].startswith("cached GET p99")]
    assert p99["value"] == cached["p99_ms"]
    assert p99["ratio"] == round(cached["p99_ms"] / api["result"]["redis_get"]["p99_ms"], 3)
    report = md_file.read_text()
    assert "## Headline figures" in report and "### api: ok" in report
    assert f"{cached['requests']:,}" in report
