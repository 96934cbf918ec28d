"""Schema registry browsing against the real Apicurio: subjects, versions, diffs, rules, page."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from globalmart.core.settings import Settings
from globalmart.gateway.app import create_app
from globalmart.gateway.config import GatewayConfig
from globalmart.gateway.testing import unique_suffix
from globalmart.schemas.catalog import SchemaVersion
from globalmart.schemas.registry import Registry

V1: dict[str, Any] = {
    "type": "record",
    "name": "probe",
    "namespace": "globalmart.test",
    "fields": [{"name": "id", "type": "string"}],
}
V2 = {**V1, "fields": V1["fields"] + [{"name": "n", "type": "long", "default": 0}]}


@pytest.fixture(scope="module")
def scratch(live_stack: Callable[..., Settings]) -> Iterator[tuple[Settings, str]]:
    settings = live_stack("apicurio", "postgres-realtime", "postgres-warehouse", "redis")
    group = f"globalmart.test-{unique_suffix()}"
    with Registry.from_settings(settings) as registry:
        registry.create_artifact(group, "probe", SchemaVersion("test", "probe", 1, "", V1))
        response = registry.add_version(group, "probe", SchemaVersion("test", "probe", 2, "", V2))
        assert response.status_code == 200, response.text
        registry.set_rule(group, "probe", "COMPATIBILITY", "BACKWARD")
        try:
            yield settings, group
        finally:
            registry.delete_group(group)


@pytest.fixture(scope="module")
def client(scratch: tuple[Settings, str]) -> Iterator[TestClient]:
    with TestClient(create_app(scratch[0], GatewayConfig(rate_limit_per_second=0))) as c:
        yield c


def test_subjects_include_the_catalog_and_new_artifacts(
    client: TestClient, scratch: tuple[Settings, str]
) -> None:
    subjects = {(s["group"], s["artifact"]) for s in client.get("/api/v1/registry/subjects").json()}
    assert ("default", "transactions-topic-value") in subjects
    assert ("globalmart.realtime", "sales_per_minute") in subjects
    assert (scratch[1], "probe") in subjects


def test_versions_rules_and_content(client: TestClient, scratch: tuple[Settings, str]) -> None:
    base = f"/api/v1/registry/groups/{scratch[1]}/artifacts/probe"
    info = client.get(base).json()
    assert [v["version"] for v in info["versions"]] == [1, 2]
    assert info["rules"]["compatibility"] == "BACKWARD"
    version = client.get(f"{base}/versions/2").json()
    assert version["schema"]["fields"][1]["name"] == "n"
    assert json.loads(version["text"]) == V2


def test_diff_between_versions(client: TestClient, scratch: tuple[Settings, str]) -> None:
    diff = client.get(
        f"/api/v1/registry/groups/{scratch[1]}/artifacts/probe/diff?from=1&to=2"
    ).json()
    assert [f["name"] for f in diff["added"]] == ["n"] and diff["removed"] == []
    assert diff["backward_compatible"] and diff["allowed_by_rule"]
    assert '+      "name": "n",' in diff["unified_diff"]


def test_missing_things_are_404_problems(client: TestClient) -> None:
    for path in (
        "/api/v1/registry/groups/default/artifacts/no-such-subject",
        "/api/v1/registry/groups/default/artifacts/transactions-topic-value/versions/99",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"
    assert client.get("/api/v1/registry/groups/bad%20group/artifacts/x").status_code == 400


def test_the_browsable_page_uses_only_our_files(client: TestClient) -> None:
    page = client.get("/registry")
    assert page.status_code == 200 and "/static/registry.js" in page.text
    script = client.get("/static/registry.js")
    assert script.status_code == 200 and "/api/v1/registry" in script.text
    assert "http" not in page.text.replace("http-equiv", "")
