"""Schema registry browsing: `/api/v1/registry/...` (JSON) and `/registry` (a page of our own).

Subjects are Apicurio artifacts, addressed as `{group}/{artifact}` (topic subjects registered
through the Confluent-compatible API are in group `default`). The registry being down is a 503.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse

from globalmart.gateway.problems import Problem, problem_responses
from globalmart.gateway.registry_browser import NotFound
from globalmart.gateway.state import GatewayDep
from globalmart.gateway.static_files import static_text
from globalmart.schemas.registry import RegistryError

router = APIRouter(
    prefix="/api/v1/registry", tags=["registry"], responses=problem_responses(400, 404, 429, 503)
)
page_router = APIRouter(tags=["registry"])

Name = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._\-]+$")]
Version = Annotated[int, Path(ge=1, le=1_000_000)]


def _call(what: str, fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except NotFound:
        raise Problem(404, f"no {what} in the schema registry", kind="not-found") from None
    except RegistryError as exc:
        raise Problem(503, f"schema registry unavailable: {exc}", kind="unavailable") from None


@router.get("/subjects", summary="Every registered subject")
def subjects(gateway: GatewayDep) -> list[dict[str, Any]]:
    return [asdict(s) for s in _call("subjects", gateway.registry.subjects)]


@router.get("/groups/{group}/artifacts/{artifact}", summary="A subject: versions and rules")
def subject(gateway: GatewayDep, group: Name, artifact: Name) -> dict[str, Any]:
    versions = _call(f"subject {group}/{artifact}", gateway.registry.versions, group, artifact)
    if not versions:
        raise Problem(
            404, f"no subject {group}/{artifact} in the schema registry", kind="not-found"
        )
    rules = _call("rules", gateway.registry.rules, group, artifact)
    return {"group": group, "artifact": artifact, "versions": versions, "rules": rules}


@router.get("/groups/{group}/artifacts/{artifact}/versions", summary="Versions of a subject")
def versions(gateway: GatewayDep, group: Name, artifact: Name) -> list[dict[str, Any]]:
    found = _call(f"subject {group}/{artifact}", gateway.registry.versions, group, artifact)
    if not found:
        raise Problem(
            404, f"no subject {group}/{artifact} in the schema registry", kind="not-found"
        )
    return list(found)


@router.get(
    "/groups/{group}/artifacts/{artifact}/versions/{version}", summary="One version's schema"
)
def version(gateway: GatewayDep, group: Name, artifact: Name, version: Version) -> dict[str, Any]:
    text = _call(
        f"version {version} of {group}/{artifact}",
        gateway.registry.content,
        group,
        artifact,
        version,
    )
    try:
        schema = json.loads(text)
    except ValueError:
        schema = None
    return {
        "group": group,
        "artifact": artifact,
        "version": version,
        "schema": schema,
        "text": text,
    }


@router.get("/groups/{group}/artifacts/{artifact}/rules", summary="Compatibility and other rules")
def rules(gateway: GatewayDep, group: Name, artifact: Name) -> dict[str, Any]:
    return dict(_call("rules", gateway.registry.rules, group, artifact))


@router.get(
    "/groups/{group}/artifacts/{artifact}/diff",
    summary="Differences between two versions, and whether the rule allows them",
)
def diff(
    gateway: GatewayDep,
    group: Name,
    artifact: Name,
    from_version: Annotated[int, Query(alias="from", ge=1, le=1_000_000)],
    to_version: Annotated[int, Query(alias="to", ge=1, le=1_000_000)],
) -> dict[str, Any]:
    return dict(
        _call(
            f"versions {from_version} and {to_version} of {group}/{artifact}",
            gateway.registry.diff,
            group,
            artifact,
            from_version,
            to_version,
        )
    )


@page_router.get("/registry", response_class=HTMLResponse, summary="Schema registry browser")
async def registry_page() -> HTMLResponse:
    return HTMLResponse(static_text("registry.html"))
