"""infra/docker-compose.yml describes the same services, ports and settings as the native stack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from globalmart.core.settings import Settings
from globalmart.stack import stack
from globalmart.stack.apicurio import RELEASES
from globalmart.stack.ferretdb import FERRETDB_VERSION
from globalmart.stack.kafka import KAFKA_VERSION

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


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
    assert services == set(compose)


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
