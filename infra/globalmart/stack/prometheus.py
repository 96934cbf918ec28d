"""Prometheus: scrapes the gateway, generator, stream jobs, Kafka (and FerretDB) every 5 s.

Debian's `prometheus` package provides the binary; its system service (/var/lib/prometheus) is never
used. The stack renders infra/prometheus/prometheus.yml into the data folder and runs its own
foreground server with the TSDB there, kept for two days.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from string import Template

import httpx

from globalmart.stack.base import Component, Progress, StackError, infra_file
from globalmart.stack.provision import install_quietly

PACKAGE = "prometheus"
#: services the package may start: its own server, and node-exporter (a Recommends)
SERVICES = ["prometheus", "prometheus-node-exporter"]
RETENTION = "2d"


def _target(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def render(template: str, targets: Mapping[str, str], ferretdb: Sequence[str] = ()) -> str:
    """The template with its placeholders filled: `<name>_target` from `targets` (keys prometheus,
    gateway, generator, stream, kafka_jmx) and the FerretDB target list (empty: not scraped).

    Raises KeyError / ValueError for a missing or malformed placeholder.
    """
    values = {f"{name}_target": target for name, target in targets.items()}
    values["ferretdb_targets"] = "[" + ", ".join(f'"{t}"' for t in ferretdb) + "]"
    return Template(template).substitute(values)


#: the template rendered for infra/docker-compose.yml: services by their compose names, and the
#: Python services (run on the host) through host.docker.internal
COMPOSE_TARGETS: Mapping[str, str] = {
    "prometheus": "localhost:9090",
    "gateway": "host.docker.internal:8000",
    "generator": "host.docker.internal:8001",
    "stream": "host.docker.internal:8002",
    "kafka_jmx": "kafka:7071",
}
COMPOSE_CONFIG = "prometheus/prometheus.compose.yml"


def compose_config(template: str) -> str:
    """The text of infra/prometheus/prometheus.compose.yml (compose_test keeps the file in step)."""
    header = (
        "# GENERATED from prometheus.yml by globalmart.stack.prometheus.compose_config for\n"
        "# infra/docker-compose.yml: edit the template, then regenerate this file.\n"
    )
    return header + render(template, COMPOSE_TARGETS)


class Prometheus(Component):
    name = "prometheus"
    start_timeout = 60.0

    @property
    def host(self) -> str:
        return self.settings.prometheus_host

    @property
    def port(self) -> int:
        return self.settings.prometheus_port

    @property
    def url(self) -> str:
        return f"http://{_target(self.host, self.port)}"

    @property
    def binary(self) -> Path | None:
        found = shutil.which("prometheus") or (
            "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None
        )
        return Path(found) if found else None

    @property
    def template(self) -> Path:
        return infra_file("prometheus/prometheus.yml")

    @property
    def config_file(self) -> Path:
        return self.data_dir / "prometheus.yml"

    @property
    def version(self) -> str:
        if self.binary is None:
            return "not installed"
        try:
            out = subprocess.run(
                [str(self.binary), "--version"], capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired):
            return "unknown"
        # "prometheus, version 2.42.0+ds (branch: ...)": keep the upstream version number
        match = re.search(r"version (\d[\w.]*)", out.stdout + out.stderr)
        return match.group(1) if match else "unknown"

    def provisioned(self) -> bool:
        return self.binary is not None

    def provision(self, progress: Progress) -> None:
        install_quietly(self.name, [PACKAGE], SERVICES, progress)
        if self.binary is None:
            raise StackError(self.name, "prometheus not found after installing it")

    def render_config(self) -> bool:
        """Render the template into the data folder; True when the file changed."""
        try:
            template = self.template.read_text()
        except OSError as exc:
            raise StackError(self.name, f"cannot read {self.template}: {exc.strerror}")
        s = self.settings
        targets = {
            "prometheus": _target(self.host, self.port),
            "gateway": _target(s.api_host, s.api_port),
            "generator": _target("localhost", s.generator_metrics_port),
            "stream": _target("localhost", s.stream_metrics_port),
            "kafka_jmx": _target(s.kafka_host, s.kafka_jmx_exporter_port),
        }
        ferretdb = [_target(s.mongo_host, s.mongo_metrics_port)] if s.mongo_metrics_port else []
        try:
            text = render(template, targets, ferretdb)
        except (KeyError, ValueError) as exc:
            raise StackError(self.name, f"{self.template}: bad placeholder {exc}", "use $$ for $")
        if self.config_file.exists() and self.config_file.read_text() == text:
            return False
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(text)
        return True

    def prepare(self, progress: Progress) -> None:
        self.render_config()
        (self.data_dir / "tsdb").mkdir(exist_ok=True)

    def command(self) -> tuple[Sequence[str], Mapping[str, str]]:
        if self.binary is None:
            raise StackError(self.name, "prometheus is not installed", f"apt-get install {PACKAGE}")
        return [
            str(self.binary),
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={self.data_dir / 'tsdb'}",
            f"--storage.tsdb.retention.time={RETENTION}",
            f"--web.listen-address={_target(self.host, self.port)}",
        ], {}

    def healthy(self) -> bool:
        # /-/ready is 503 while the TSDB (write-ahead log) is being replayed. trust_env=False:
        # a local probe must not go through an HTTP(S)_PROXY from the environment.
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=2.0, trust_env=False).status_code == 200
        except httpx.HTTPError:
            return False

    def after_start(self, progress: Progress) -> None:
        # An already running server keeps its old config: reload it if .env or the template moved.
        pid = self.owned_pid()
        if self.render_config() and pid is not None:
            progress(f"{self.name}: configuration changed, reloading")
            os.kill(pid, signal.SIGHUP)

    def targets(self) -> list[dict[str, object]]:
        """The active scrape targets as Prometheus reports them (/api/v1/targets)."""
        response = httpx.get(f"{self.url}/api/v1/targets", timeout=5.0, trust_env=False)
        response.raise_for_status()
        return list(response.json()["data"]["activeTargets"])
