"""The schemas in Apicurio Registry: register, list, show, and check candidates with its own rules.

Topic values (events, dead letters) go through the Confluent-compatible API (`/apis/ccompat/v7`,
TopicNameStrategy subjects like `transactions-topic-value`), exactly as confluent-kafka's Avro
serializer would, so ids and Confluent framing match what producers and consumers see. Sink
tables and reference entities go through the native v3 API into one group per kind
(`globalmart.realtime`, `globalmart.warehouse`, `globalmart.reference`), version numbers equal to
the file's. Every artifact gets a COMPATIBILITY rule (its policy mode) and a VALIDITY rule (FULL)
before its second version is added, so the registry enforces the same policy we check offline.

Registering is idempotent. A registered version whose content differs from its file is an error:
released versions are immutable in the registry as in the repository.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from globalmart.core.settings import Settings
from globalmart.schemas import manifest
from globalmart.schemas.catalog import Catalog, SchemaEntry, SchemaVersion, canonical_json
from globalmart.schemas.policy import Policy
from globalmart.schemas.violations import Violation

NATIVE = "/apis/registry/v3"
CCOMPAT = "/apis/ccompat/v7"
VALIDITY = "FULL"
JSON = "application/json"


class RegistryError(RuntimeError):
    """The registry refused something or is unreachable; the message says which subject."""


def registry_text(version: SchemaVersion) -> str:
    """The exact string registered (and the one serializers must send to find the same id)."""
    return json.dumps(version.data, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Naming:
    """Where the catalog goes: the real names, or a prefixed copy (tests, CI scratch space)."""

    prefix: str = ""

    def subject(self, subject: str) -> str:
        return f"{self.prefix}{subject}"

    def group(self, entry: SchemaEntry) -> str:
        # ccompat subjects always live in Apicurio's default group: only the subject is prefixed.
        return entry.group if entry.uses_ccompat else f"{self.prefix}{entry.group}"

    def artifact(self, entry: SchemaEntry, subject: str) -> str:
        return self.subject(subject) if entry.uses_ccompat else subject


@dataclass(frozen=True)
class Registration:
    subject: str
    group: str
    version: int
    #: created | unchanged
    status: str


@dataclass
class RegisteredSubject:
    subject: str
    group: str
    versions: list[int]
    rules: dict[str, str] = field(default_factory=dict)


class Registry:
    """A thin client for the parts of the v3 and ccompat APIs the contracts need."""

    def __init__(self, base_url: str, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout)

    @classmethod
    def from_settings(cls, settings: Settings) -> Registry:
        return cls(settings.schema_registry_url)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise RegistryError(
                f"schema registry at {self.base_url} unreachable ({exc}); "
                "start it with `stack up apicurio`"
            ) from exc

    # -- ccompat (topic subjects) ------------------------------------------------------------
    def ccompat_versions(self, subject: str) -> list[int]:
        response = self._request("GET", f"{CCOMPAT}/subjects/{subject}/versions")
        if response.status_code == 404:
            return []
        if response.status_code != 200:
            raise _failure(response, f"{subject}: listing versions")
        return sorted(int(v) for v in response.json())

    def ccompat_schema(self, subject: str, version: int) -> str:
        response = self._request("GET", f"{CCOMPAT}/subjects/{subject}/versions/{version}")
        if response.status_code != 200:
            raise _failure(response, f"{subject} v{version}: fetching")
        return str(response.json()["schema"])

    def ccompat_register(self, subject: str, text: str) -> int:
        response = self._request(
            "POST", f"{CCOMPAT}/subjects/{subject}/versions", json={"schema": text}
        )
        if response.status_code != 200:
            raise _failure(response, f"{subject}: registering")
        return int(response.json()["id"])

    def ccompat_subjects(self) -> list[str]:
        response = self._request("GET", f"{CCOMPAT}/subjects")
        if response.status_code != 200:
            raise _failure(response, "listing subjects")
        return sorted(str(s) for s in response.json())

    # -- native v3 ---------------------------------------------------------------------------
    def versions(self, group: str, artifact: str) -> list[int]:
        response = self._request("GET", f"{NATIVE}/groups/{group}/artifacts/{artifact}/versions")
        if response.status_code == 404:
            return []
        if response.status_code != 200:
            raise _failure(response, f"{group}/{artifact}: listing versions")
        numbers = [v["version"] for v in response.json().get("versions", [])]
        return sorted(int(n) for n in numbers if str(n).isdigit())

    def content(self, group: str, artifact: str, version: int) -> str:
        response = self._request(
            "GET", f"{NATIVE}/groups/{group}/artifacts/{artifact}/versions/{version}/content"
        )
        if response.status_code != 200:
            raise _failure(response, f"{group}/{artifact} v{version}: fetching")
        return response.text

    def create_artifact(self, group: str, artifact: str, version: SchemaVersion) -> None:
        body = {
            "artifactId": artifact,
            "artifactType": "AVRO",
            "name": version.name,
            "description": version.doc,
            "labels": {"kind": version.kind, "schema": version.name},
            "firstVersion": self._version_body(version),
        }
        response = self._request("POST", f"{NATIVE}/groups/{group}/artifacts", json=body)
        if response.status_code != 200:
            raise _failure(response, f"{group}/{artifact}: creating")

    def add_version(
        self, group: str, artifact: str, version: SchemaVersion, *, dry_run: bool = False
    ) -> httpx.Response:
        """POST a version; the caller inspects the response (rule violations are 400/409)."""
        return self._request(
            "POST",
            f"{NATIVE}/groups/{group}/artifacts/{artifact}/versions",
            params={"dryRun": "true"} if dry_run else None,
            json=self._version_body(version),
        )

    @staticmethod
    def _version_body(version: SchemaVersion) -> dict[str, Any]:
        return {
            "version": str(version.version),
            "content": {"content": registry_text(version), "contentType": JSON},
        }

    def rules(self, group: str, artifact: str) -> dict[str, str]:
        base = f"{NATIVE}/groups/{group}/artifacts/{artifact}/rules"
        response = self._request("GET", base)
        if response.status_code == 404:
            return {}
        if response.status_code != 200:
            raise _failure(response, f"{group}/{artifact}: listing rules")
        found = {}
        for rule_type in response.json():
            detail = self._request("GET", f"{base}/{rule_type}")
            if detail.status_code == 200:
                found[str(rule_type)] = str(detail.json().get("config", ""))
        return found

    def set_rule(self, group: str, artifact: str, rule_type: str, config: str) -> bool:
        """Create or update one artifact rule; True when something changed."""
        current = self.rules(group, artifact)
        if current.get(rule_type) == config:
            return False
        base = f"{NATIVE}/groups/{group}/artifacts/{artifact}/rules"
        body = {"ruleType": rule_type, "config": config}
        if rule_type in current:
            response = self._request("PUT", f"{base}/{rule_type}", json=body)
        else:
            response = self._request("POST", base, json=body)
        if response.status_code not in (200, 204):
            raise _failure(response, f"{group}/{artifact}: setting {rule_type}={config}")
        return True

    def artifacts(self, group: str) -> list[str]:
        response = self._request(
            "GET", f"{NATIVE}/groups/{group}/artifacts", params={"limit": 1000}
        )
        if response.status_code == 404:
            return []
        if response.status_code != 200:
            raise _failure(response, f"{group}: listing artifacts")
        return sorted(str(a["artifactId"]) for a in response.json().get("artifacts", []))

    def delete_group(self, group: str) -> bool:
        """Delete a group and its artifacts; False when the registry does not allow deletion."""
        response = self._request("DELETE", f"{NATIVE}/groups/{group}")
        return response.status_code in (200, 204, 404)

    def delete_artifact(self, group: str, artifact: str) -> bool:
        response = self._request("DELETE", f"{NATIVE}/groups/{group}/artifacts/{artifact}")
        return response.status_code in (200, 204, 404)


def _failure(response: httpx.Response, what: str) -> RegistryError:
    try:
        body = response.json()
        detail = body.get("detail") or body.get("message") or response.text
    except ValueError:
        detail = response.text
    return RegistryError(f"{what}: HTTP {response.status_code}: {detail}")


# -- the catalog in the registry -----------------------------------------------------------------
def register_all(
    registry: Registry, catalog: Catalog, policy: Policy, naming: Naming = Naming()
) -> list[Registration]:
    """Register every version of every subject, oldest first, with its rules; idempotent."""
    done: list[Registration] = []
    for subject, entry in catalog.subjects():
        mode = policy.mode_for(entry)
        if mode is None:
            raise RegistryError(f"{subject}: no compatibility mode in the policy")
        done.extend(_register_subject(registry, entry, subject, mode.mode, naming))
    return done


def _register_subject(
    registry: Registry, entry: SchemaEntry, subject: str, mode: str, naming: Naming
) -> list[Registration]:
    group, artifact = naming.group(entry), naming.artifact(entry, subject)
    name = naming.subject(subject)
    existing = _registered_versions(registry, entry, group, artifact)
    done = []
    for version in entry.versions:
        if version.version in existing:
            _same_or_fail(registry, entry, group, artifact, version)
            done.append(Registration(name, group, version.version, "unchanged"))
            continue
        expected = (max(existing) if existing else 0) + 1
        if version.version != expected:
            raise RegistryError(
                f"{name}: the registry has versions {existing}, so v{version.version} cannot be "
                f"added as version {version.version}"
            )
        if entry.uses_ccompat:
            registry.ccompat_register(artifact, registry_text(version))
        elif not existing:
            registry.create_artifact(group, artifact, version)
        else:
            response = registry.add_version(group, artifact, version)
            if response.status_code != 200:
                raise _failure(response, f"{name} v{version.version}: registering")
        existing = _registered_versions(registry, entry, group, artifact)
        if version.version not in existing:
            raise RegistryError(f"{name}: registered v{version.version} but got {existing}")
        # Rules in place before any later version is added: the registry checks those too.
        registry.set_rule(group, artifact, "COMPATIBILITY", mode)
        registry.set_rule(group, artifact, "VALIDITY", VALIDITY)
        done.append(Registration(name, group, version.version, "created"))
    registry.set_rule(group, artifact, "COMPATIBILITY", mode)
    registry.set_rule(group, artifact, "VALIDITY", VALIDITY)
    return done


def _registered_versions(
    registry: Registry, entry: SchemaEntry, group: str, artifact: str
) -> list[int]:
    if entry.uses_ccompat:
        return registry.ccompat_versions(artifact)
    return registry.versions(group, artifact)


def _same_or_fail(
    registry: Registry, entry: SchemaEntry, group: str, artifact: str, version: SchemaVersion
) -> None:
    text = fetch(registry, entry, group, artifact, version.version)
    if canonical_json(json.loads(text)) != version.canonical:
        raise RegistryError(
            f"{artifact} v{version.version}: the registry holds different content than "
            f"{version.path}; released versions never change (write v{entry.latest.version + 1})"
        )


def fetch(registry: Registry, entry: SchemaEntry, group: str, artifact: str, version: int) -> str:
    if entry.uses_ccompat:
        return registry.ccompat_schema(artifact, version)
    return registry.content(group, artifact, version)


def registered(
    registry: Registry, catalog: Catalog, naming: Naming = Naming()
) -> list[RegisteredSubject]:
    """What the registry holds for each catalog subject (versions [] when absent)."""
    rows = []
    for subject, entry in catalog.subjects():
        group, artifact = naming.group(entry), naming.artifact(entry, subject)
        versions = _registered_versions(registry, entry, group, artifact)
        rules = registry.rules(group, artifact) if versions else {}
        rows.append(RegisteredSubject(naming.subject(subject), group, versions, rules))
    return rows


# -- CI: the registry's own verdict on the candidates ---------------------------------------------
@dataclass
class RegistryCheck:
    violations: list[Violation]
    checked: list[tuple[str, int]]
    scratch_group: str
    cleaned_up: bool


def registry_check(registry: Registry, catalog: Catalog, policy: Policy) -> RegistryCheck:
    """Let the registry judge every candidate (unreleased version) against its schema's history.

    The history goes into a scratch group first, without rules (it was accepted when released);
    then the COMPATIBILITY rule is set and the candidates are added in order, so the registry
    judges each one exactly as it would on a real registration.
    """
    scratch = f"globalmart.check-{uuid.uuid4().hex[:10]}"
    violations: list[Violation] = []
    checked: list[tuple[str, int]] = []
    created = False
    try:
        for entry in catalog:
            mode = policy.mode_for(entry)
            pending = set(manifest.candidates(entry, catalog.released))
            history = [v for v in entry.versions if v.version not in pending] or entry.versions[:1]
            candidates = [v for v in entry.versions if v not in history]
            if mode is None or not candidates:
                continue
            created = True
            first, *rest = history
            registry.create_artifact(scratch, entry.name, first)
            for version in rest:
                response = registry.add_version(scratch, entry.name, version)
                if response.status_code != 200:
                    raise _failure(response, f"{entry.label} v{version.version}: replaying")
            registry.set_rule(scratch, entry.name, "COMPATIBILITY", mode.mode)
            registry.set_rule(scratch, entry.name, "VALIDITY", VALIDITY)
            for version in candidates:
                checked.append((entry.label, version.version))
                response = registry.add_version(scratch, entry.name, version)
                if response.status_code == 200:
                    continue
                found = _rule_violations(response, entry, version, mode.mode)
                if not found:
                    raise _failure(response, f"{entry.label} v{version.version}: checking")
                violations.extend(found)
    finally:
        # Deleting needs apicurio.rest.deletion.group.enabled; without it the group stays.
        cleaned = registry.delete_group(scratch) if created else True
    return RegistryCheck(sorted(set(violations)), checked, scratch, cleaned)


def _rule_violations(
    response: httpx.Response, entry: SchemaEntry, version: SchemaVersion, mode: str
) -> list[Violation]:
    if response.status_code not in (400, 409):
        return []
    try:
        body = response.json()
    except ValueError:
        return []
    if "RuleViolation" not in str(body.get("name", "")) + str(body.get("message", "")):
        return []
    causes = body.get("causes") or [{"description": body.get("detail", ""), "context": ""}]
    earlier = [v for v in entry.versions if v.version < version.version]
    return [
        Violation(
            entry.label,
            version.version,
            _locate(
                str(cause.get("context", "")), str(cause.get("description", "")), version, earlier
            ),
            mode,
            f"registry: {cause.get('description', '')}".strip(),
        )
        for cause in causes
    ]


def _locate(
    pointer: str, description: str, version: SchemaVersion, earlier: list[SchemaVersion]
) -> str:
    """The field a registry cause points at. Its location indexes the *reader* schema, which is
    the candidate for a backward failure but an earlier version for a forward one: prefer the
    reading whose field name the description mentions (a missing field's cause is its name)."""
    for data in [version.data, *(v.data for v in reversed(earlier))]:
        name = field_at(data, pointer)
        if name != pointer.strip("/") and name.split(".")[-1].rstrip("[]") in description:
            return name
    return field_at(version.data, pointer)


def field_at(schema: dict[str, Any], pointer: str) -> str:
    """Turn a checker location like /fields/6/type/items/fields/2 into items[].quantity."""
    parts = [p for p in pointer.split("/") if p]
    node: Any = schema
    names: list[str] = []
    index = 0
    while index < len(parts):
        token = parts[index]
        if token == "fields" and index + 1 < len(parts) and isinstance(node, dict):
            try:
                node = node["fields"][int(parts[index + 1])]
            except (KeyError, IndexError, ValueError):
                return pointer
            names.append(str(node["name"]))
            index += 2
            continue
        if token == "type" and isinstance(node, dict):
            node = node.get("type")
        elif token == "items" and isinstance(node, dict):
            node = node.get("items")
            if names:
                names[-1] += "[]"
        elif token.isdigit() and isinstance(node, list):
            node = node[int(token)] if int(token) < len(node) else node
        index += 1
    return ".".join(names) if names else pointer.strip("/")
