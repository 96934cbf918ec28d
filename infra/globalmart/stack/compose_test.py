"""infra/docker-compose.yml describes the same services, ports and settings as the native stack."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from globalmart.core.settings import Settings
from globalmart.stack import stack
from globalmart.stack.apicurio import RELEASES
from globalmart.stack.base import infra_file
from globalmart.stack.ferretdb import FERRETDB_VERSION
from globalmart.stack.kafka import KAFKA_VERSION
from globalmart.stack.prometheus import COMPOSE_CONFIG, COMPOSE_TARGETS, compose_config

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
#: services only Docker users get: Grafana (not installable natively: not in Debian or any
#: registry the stack uses) and the one-shot download of the Kafka JMX exporter agent
COMPOSE_ONLY = {"grafana", "kafka-jmx-agent"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text())["services"])


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


def _host_ports(service: dict[str, Any]) -> set[int]:
    return {int(str(p).split(":")[0]) for p in service.get("ports", [])}


def test_every_service_component_is_in_compose(compose: dict[str, Any], settings: Settings) -> None:
    services = {c.name for c in stack.all_components(settings) if c.name != "spark"}
    assert services == set(compose) - COMPOSE_ONLY
    assert COMPOSE_ONLY <= set(compose)


def test_ports_match(compose: dict[str, Any], settings: Settings) -> None:
    for component in stack.all_components(settings):
        if component.name == "spark":
            continue
        assert component.port in _host_ports(compose[component.name]), component.name
    assert settings.schema_registry_management_port in _host_ports(compose["apicurio"])


def test_databases_and_roles_match(compose: dict[str, Any], settings: Settings) -> None:
    for which, db in (
        ("realtime", settings.postgres_realtime_db),
        ("warehouse", settings.postgres_warehouse_db),
    ):
        env = compose[f"postgres-{which}"]["environment"]
        assert env["POSTGRES_DB"] == db
        assert env["POSTGRES_USER"] == settings.postgres_writer_user
        assert env["POSTGRES_PASSWORD"] == settings.postgres_writer_password
        assert env["TZ"] == "UTC"


def test_pinned_versions_match(compose: dict[str, Any]) -> None:
    assert compose["kafka"]["image"].endswith(f":{KAFKA_VERSION}")
    assert compose["ferretdb"]["image"].endswith(f":{FERRETDB_VERSION}")
    assert compose["apicurio"]["image"].endswith(f":{RELEASES[0].version}")


def test_kafka_settings_match(compose: dict[str, Any], settings: Settings) -> None:
    env = compose["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert int(env["KAFKA_NUM_PARTITIONS"]) == settings.kafka_topic_partitions
    assert f":{settings.kafka_controller_port}" in env["KAFKA_LISTENERS"]


def _pom_property(pom: str, name: str) -> str:
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    value = ET.parse(infra_file(pom)).getroot().find(f"m:properties/m:{name}", ns)
    assert value is not None and value.text
    return value.text


def test_kafka_exports_jmx_metrics_like_the_native_broker(
    compose: dict[str, Any], settings: Settings
) -> None:
    kafka, agent = compose["kafka"], compose["kafka-jmx-agent"]
    version = _pom_property("jvm/jmx-exporter/pom.xml", "jmx.exporter.version")
    assert f"jmx_prometheus_javaagent:{version}" in " ".join(agent["command"])
    assert settings.kafka_jmx_exporter_port in _host_ports(kafka)
    match = re.search(r"-javaagent:(\S+?)=(\d+):(\S+)", kafka["environment"]["KAFKA_OPTS"])
    assert match, kafka["environment"]["KAFKA_OPTS"]
    assert int(match.group(2)) == settings.kafka_jmx_exporter_port
    mounts = {v.split(":")[1]: v.split(":")[0] for v in kafka["volumes"]}
    assert mounts[match.group(3)] == "./kafka/jmx-exporter.yaml"
    assert (COMPOSE.parent / "kafka/jmx-exporter.yaml").exists()


def test_prometheus_config_is_the_template_rendered_for_compose(
    compose: dict[str, Any], settings: Settings
) -> None:
    committed = infra_file(COMPOSE_CONFIG).read_text()
    # Out of date? Rewrite it with globalmart.stack.prometheus.compose_config(<template text>).
    assert committed == compose_config(infra_file("prometheus/prometheus.yml").read_text())
    volumes = compose["prometheus"]["volumes"]
    assert f"./{COMPOSE_CONFIG}:/etc/prometheus/prometheus.yml:ro" in volumes
    config = yaml.safe_load(committed)
    targets = {
        job["job_name"]: [t for group in job["static_configs"] for t in group["targets"]]
        for job in config["scrape_configs"]
    }
    assert targets["kafka"] == [f"kafka:{settings.kafka_jmx_exporter_port}"]
    for job, port in (
        ("gateway", settings.api_port),
        ("generator", settings.generator_metrics_port),
        ("stream", settings.stream_metrics_port),
    ):
        assert targets[job] == [f"host.docker.internal:{port}"]
    assert targets["prometheus"] == [COMPOSE_TARGETS["prometheus"]]
    # FerretDB's debug handler is off by default (MONGO_METRICS_PORT=0): a job without targets.
    assert targets["ferretdb"] == []
    assert set(targets) == {"prometheus", "gateway", "generator", "stream", "kafka", "ferretdb"}


def test_postgres_containers_create_the_reader_role(
    compose: dict[str, Any], settings: Settings
) -> None:
    script = (COMPOSE.parent / "postgres/reader-role.sql").read_text()
    assert f"CREATE ROLE {settings.postgres_reader_user} LOGIN" in script
    assert f"PASSWORD '{settings.postgres_reader_password}'" in script
    assert f"FOR ROLE {settings.postgres_writer_user}" in script
    for which in ("realtime", "warehouse"):
        volumes = compose[f"postgres-{which}"]["volumes"]
        assert any(
            v.startswith("./postgres/reader-role.sql:/docker-entrypoint-initdb.d/") for v in volumes
        )


def test_grafana_is_provisioned_with_the_stack_settings(
    compose: dict[str, Any], settings: Settings
) -> None:
    grafana = compose["grafana"]
    env = {k: str(v) for k, v in grafana["environment"].items()}
    assert env["GLOBALMART_PROMETHEUS_URL"] == f"http://prometheus:{settings.prometheus_port}"
    assert env["GLOBALMART_POSTGRES_REALTIME_ADDRESS"] == "postgres-realtime:5432"
    assert env["GLOBALMART_POSTGRES_WAREHOUSE_ADDRESS"] == "postgres-warehouse:5432"
    assert env["GLOBALMART_POSTGRES_REALTIME_DB"] == settings.postgres_realtime_db
    assert env["GLOBALMART_POSTGRES_WAREHOUSE_DB"] == settings.postgres_warehouse_db
    assert env["GLOBALMART_POSTGRES_READER_USER"] == settings.postgres_reader_user
    assert env["GLOBALMART_POSTGRES_READER_PASSWORD"] == settings.postgres_reader_password
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    assert mounts["/etc/grafana/provisioning"] == "./grafana/provisioning"
    assert mounts[env["GLOBALMART_DASHBOARDS_DIR"]] == "./grafana/dashboards"
    # Every ${VAR} the provisioning files use is set, or Grafana would expand it to "".
    provisioning = COMPOSE.parent / "grafana/provisioning"
    used = {
        name
        for path in provisioning.rglob("*.yaml")
        for name in re.findall(r"\$\{(\w+)\}", path.read_text())
    }
    assert used and used <= set(env), used - set(env)
