"""Browsing Apicurio Registry: subjects, versions, contents, diffs and compatibility rules.

Reads the native v3 API through `globalmart.schemas.registry.Registry` (the same client the schema
tooling uses). Subjects registered through the Confluent-compatible API live in Apicurio's
`default` group. Version contents are immutable, so they are memoized; listings are kept a few
seconds. A diff compares two versions field by field and asks Apache avro's checker both ways
(backward: the newer reads the older's data; forward: the reverse), next to the rule in force.
"""

from __future__ import annotations

import difflib
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import avro.errors
import avro.schema

from globalmart.schemas.compat import compatible
from globalmart.schemas.registry import NATIVE, Registry, RegistryError

DEFAULT_GROUP = "default"
LIST_TTL = 5.0


class NotFound(LookupError):
    pass


@dataclass(frozen=True)
class Subject:
    group: str
    artifact: str
    name: str
    description: str
    kind: str
    artifact_type: str
    modified_on: str


class RegistryBrowser:
    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        self.client = Registry(base_url, timeout=timeout)
        self._lock = threading.Lock()
        self._contents: dict[tuple[str, str, int], str] = {}
        self._lists: dict[str, tuple[float, Any]] = {}

    def close(self) -> None:
        self.client.close()

    def _get(self, path: str, **params: Any) -> Any:
        response = self.client._request("GET", path, params=params or None)
        if response.status_code == 404:
            raise NotFound(path)
        if response.status_code != 200:
            raise RegistryError(f"GET {path}: HTTP {response.status_code}")
        return response.json()

    def _listing(self, key: str, load: Any) -> Any:
        with self._lock:
            hit = self._lists.get(key)
            if hit and time.monotonic() - hit[0] < LIST_TTL:
                return hit[1]
        value = load()
        with self._lock:
            self._lists[key] = (time.monotonic(), value)
        return value

    # -- listings ------------------------------------------------------------------------------
    def subjects(self) -> list[Subject]:
        def load() -> list[Subject]:
            body = self._get(f"{NATIVE}/search/artifacts", limit=1000, orderby="artifactId")
            found = []
            for item in body.get("artifacts", []):
                group = item.get("groupId") or DEFAULT_GROUP
                labels = item.get("labels") or {}
                found.append(
                    Subject(
                        group=group,
                        artifact=str(item["artifactId"]),
                        name=str(item.get("name") or item["artifactId"]),
                        description=str(item.get("description") or ""),
                        kind=str(
                            labels.get("kind") or ("events" if group == DEFAULT_GROUP else "")
                        ),
                        artifact_type=str(item.get("artifactType") or ""),
                        modified_on=str(item.get("modifiedOn") or ""),
                    )
                )
            return sorted(found, key=lambda s: (s.group, s.artifact))

        return list(self._listing("subjects", load))

    def versions(self, group: str, artifact: str) -> list[dict[str, Any]]:
        def load() -> list[dict[str, Any]]:
            body = self._get(f"{NATIVE}/groups/{group}/artifacts/{artifact}/versions", limit=1000)
            rows = [
                {
                    "version": int(v["version"]),
                    "global_id": v.get("globalId"),
                    "content_id": v.get("contentId"),
                    "state": v.get("state"),
                    "created_on": v.get("createdOn"),
                }
                for v in body.get("versions", [])
                if str(v.get("version", "")).isdigit()
            ]
            return sorted(rows, key=lambda r: r["version"])

        return list(self._listing(f"versions:{group}/{artifact}", load))

    def rules(self, group: str, artifact: str) -> dict[str, Any]:
        """Artifact rules, and the group and global ones they override."""

        def level(path: str) -> dict[str, str]:
            try:
                names = self._get(path)
            except NotFound:
                return {}
            found = {}
            for name in names:
                try:
                    found[str(name)] = str(self._get(f"{path}/{name}").get("config", ""))
                except NotFound:
                    continue
            return found

        def load() -> dict[str, Any]:
            artifact_rules = level(f"{NATIVE}/groups/{group}/artifacts/{artifact}/rules")
            group_rules = level(f"{NATIVE}/groups/{group}/rules")
            global_rules = level(f"{NATIVE}/admin/rules")
            effective = {**global_rules, **group_rules, **artifact_rules}
            return {
                "artifact": artifact_rules,
                "group": group_rules,
                "global": global_rules,
                "effective": effective,
                "compatibility": effective.get("COMPATIBILITY", "NONE"),
            }

        return dict(self._listing(f"rules:{group}/{artifact}", load))

    def content(self, group: str, artifact: str, version: int) -> str:
        key = (group, artifact, version)
        with self._lock:
            if key in self._contents:
                return self._contents[key]
        response = self.client._request(
            "GET", f"{NATIVE}/groups/{group}/artifacts/{artifact}/versions/{version}/content"
        )
        if response.status_code == 404:
            raise NotFound(f"{group}/{artifact} v{version}")
        if response.status_code != 200:
            raise RegistryError(f"{group}/{artifact} v{version}: HTTP {response.status_code}")
        with self._lock:
            self._contents[key] = response.text
        return response.text

    # -- diffs ---------------------------------------------------------------------------------
    def diff(self, group: str, artifact: str, old: int, new: int) -> dict[str, Any]:
        old_text, new_text = self.content(group, artifact, old), self.content(group, artifact, new)
        result = diff_schemas(old_text, new_text)
        rules = self.rules(group, artifact)
        result.update(
            {
                "group": group,
                "artifact": artifact,
                "from_version": old,
                "to_version": new,
                "compatibility_rule": rules["compatibility"],
                "allowed_by_rule": allowed(rules["compatibility"], result),
            }
        )
        return result


def _fields(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(f["name"]): f for f in schema.get("fields", []) if isinstance(f, dict)}


def diff_schemas(old_text: str, new_text: str) -> dict[str, Any]:
    """Field-level changes, a unified text diff, and avro's verdict both ways."""
    old, new = json.loads(old_text), json.loads(new_text)
    old_fields, new_fields = _fields(old), _fields(new)
    added = [
        {"name": n, "type": f["type"], "has_default": "default" in f}
        for n, f in new_fields.items()
        if n not in old_fields
    ]
    removed = [
        {"name": n, "type": f["type"], "had_default": "default" in f}
        for n, f in old_fields.items()
        if n not in new_fields
    ]
    changed = []
    for name in old_fields.keys() & new_fields.keys():
        before, after = old_fields[name], new_fields[name]
        aspects = [
            k for k in ("type", "default", "doc", "aliases") if before.get(k) != after.get(k)
        ]
        if aspects:
            changed.append(
                {
                    "name": name,
                    "changed": aspects,
                    "from": {k: before.get(k) for k in aspects},
                    "to": {k: after.get(k) for k in aspects},
                }
            )
    changed.sort(key=lambda c: str(c["name"]))
    top = [k for k in sorted(old.keys() | new.keys()) if k != "fields" and old.get(k) != new.get(k)]
    text = difflib.unified_diff(
        json.dumps(old, indent=2, sort_keys=False).splitlines(),
        json.dumps(new, indent=2, sort_keys=False).splitlines(),
        "old",
        "new",
        lineterm="",
    )
    try:
        old_schema, new_schema = avro.schema.parse(old_text), avro.schema.parse(new_text)
        backward = compatible(new_schema, old_schema)
        forward = compatible(old_schema, new_schema)
    except (avro.errors.AvroException, ValueError, TypeError):
        backward = forward = False
    return {
        "added": added,
        "removed": removed,
        "changed": changed,
        "record_changes": top,
        "unified_diff": "\n".join(text),
        "backward_compatible": backward,
        "forward_compatible": forward,
        "identical": old == new,
    }


def allowed(rule: str, diff: dict[str, Any]) -> bool:
    """Whether the pair passes the rule (non-transitive view: these two versions only)."""
    base = rule.replace("_TRANSITIVE", "")
    if base == "BACKWARD":
        return bool(diff["backward_compatible"])
    if base == "FORWARD":
        return bool(diff["forward_compatible"])
    if base == "FULL":
        return bool(diff["backward_compatible"] and diff["forward_compatible"])
    return True
