"""The Prometheus template renders into valid configs for the native stack and docker-compose."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from globalmart.core.settings import Settings
from globalmart.stack.base import infra_file
from globalmart.stack.prometheus import COMPOSE_CONFIG, Prometheus, render

JOBS = {"prometheus", "gateway", "generator", "stream", "kafka", "ferretdb"}


def _rendered(tmp_path: Path, **overrides: Any) -> tuple[Path, dict[str, Any]]:
    settings = Settings(
        _env_file=None, globalmart_state_dir=tmp_path, **overrides  # type: ignore[call-arg]
    )
    component = Prometheus(settings)
    assert component.render_config() is True
    assert component.render_config() is False  # unchanged: no reload
    return component.config_file, yaml.safe_load(component.config_file.read_text())


def _targets(config: dict[str, Any]) -> dict[str, list[str]]:
    return {
        job["job_name"]: [t for group in job["static_configs"] for t in group["targets"]]
        for job in config["scrape_configs"]
    }


def test_every_service_is_scraped_with_a_component_label(tmp_path: Path) -> None:
    _, config = _rendered(tmp_path, kafka_jmx_exporter_port=7999, stream_metrics_port=8123)
    targets = _targets(config)
    assert set(targets) == JOBS
    assert targets["kafka"] == ["localhost:7999"]
    assert targets["stream"] == ["localhost:8123"]
    assert targets["ferretdb"] == []  # MONGO_METRICS_PORT=0: FerretDB's debug handler is off
    for job in config["scrape_configs"]:
        assert all(group["labels"]["component"] for group in job["static_configs"])


def test_ferretdb_is_scraped_when_its_metrics_port_is_set(tmp_path: Path) -> None:
    _, config = _rendered(tmp_path, mongo_metrics_port=8088)
    assert _targets(config)["ferretdb"] == ["localhost:8088"]
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "ferretdb")
    assert job["metrics_path"] == "/debug/metrics"


def test_a_missing_placeholder_is_an_error() -> None:
    with pytest.raises(KeyError):
        render("targets: [${nobody_target}]", {"gateway": "x:1"})


def test_promtool_accepts_the_rendered_configs(
    tmp_path: Path, live_stack: Callable[..., Settings]
) -> None:
    live_stack("prometheus")  # provisions Debian's prometheus package, which ships promtool
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    configs = [
        _rendered(tmp_path / "plain")[0],
        _rendered(tmp_path / "ferretdb", mongo_metrics_port=8088)[0],
        infra_file(COMPOSE_CONFIG),
    ]
    for config in configs:
        result = subprocess.run(
            [promtool, "check", "config", "--syntax-only", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
