"""The catalog: every Avro schema of the project, its versions and the subjects it is registered as.

Layout (the files are the source of truth):

    avro/<kind>/<name>/v<N>.avsc     one immutable file per version, N = 1, 2, ...
    avro/released.json               fingerprints of the released versions (see manifest.py)

Kinds: `events` (Kafka topic values), `deadletter` (the DLQ topics' value), `reference` (catalog
entities), `realtime` and `warehouse` (PostgreSQL sink tables). The record name is the directory
name, the table name, the REST path segment and the GraphQL field: one name per concept.

Custom attributes on a record (Avro keeps unknown attributes; readers ignore them):
    topic            events: the Kafka topic (subject `<topic>-value`, TopicNameStrategy)
    key              events: the field used as the Kafka message key
    primary_key      natural key, a list of field names (sink tables, reference entities)
    indexes          list of column lists to index (sink tables)
    table_type       window | event | support (realtime); dimension | fact | aggregate (warehouse)
    window_duration  event-time window length of windowed tables, in Spark's syntax ("5 minutes")
    job              the stream job writing a real-time table
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import avro.errors
import avro.schema

from globalmart.schemas.violations import Violation

#: every kind, in the order they are listed and registered
KINDS: tuple[str, ...] = ("events", "deadletter", "reference", "realtime", "warehouse")
#: kinds that are PostgreSQL tables, and the database holding them
SINK_DATABASES: dict[str, str] = {"realtime": "realtime", "warehouse": "warehouse"}
#: events go through the Confluent-compatible API; Apicurio files those artifacts in this group
CCOMPAT_GROUP = "default"
DLQ_SUFFIX = "-dlq"
MANIFEST_FILE = "released.json"

_VERSION_FILE = re.compile(r"^v([1-9][0-9]*)\.avsc$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def default_root() -> Traversable:
    """The packaged schema tree (works from the source tree, a Pants sandbox and a PEX)."""
    return resources.files("globalmart.schemas") / "avro"


def canonical_json(data: Any) -> str:
    """Key-sorted, whitespace-free JSON: equal for equal content, whatever the file's layout.

    Unlike Avro's Parsing Canonical Form it keeps docs and custom attributes, so editing a doc or
    a primary key of a released version counts as an edit.
    """
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class SchemaVersion:
    kind: str
    name: str
    version: int
    #: where it was read from, relative to the tree root (kind/name/vN.avsc)
    path: str
    data: dict[str, Any]

    @cached_property
    def avro(self) -> avro.schema.RecordSchema:
        parsed = avro.schema.parse(json.dumps(self.data))
        assert isinstance(parsed, avro.schema.RecordSchema)
        return parsed

    @property
    def canonical(self) -> str:
        return canonical_json(self.data)

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.canonical.encode()).hexdigest()

    @property
    def release_key(self) -> str:
        """Key of this version in the released manifest."""
        return f"{self.kind}/{self.name}/v{self.version}"

    @property
    def doc(self) -> str:
        return str(self.data.get("doc", ""))

    @property
    def fields(self) -> list[dict[str, Any]]:
        return list(self.data.get("fields", []))

    def field(self, name: str) -> dict[str, Any] | None:
        return next((f for f in self.fields if f.get("name") == name), None)

    @property
    def primary_key(self) -> list[str]:
        return list(self.data.get("primary_key", []))

    @property
    def indexes(self) -> list[list[str]]:
        return [list(cols) for cols in self.data.get("indexes", [])]

    @property
    def table_type(self) -> str | None:
        value = self.data.get("table_type")
        return str(value) if value is not None else None

    @property
    def topic(self) -> str | None:
        value = self.data.get("topic")
        return str(value) if value is not None else None


@dataclass
class SchemaEntry:
    """One schema (a record name) with all its versions, oldest first."""

    kind: str
    name: str
    versions: list[SchemaVersion] = field(default_factory=list)
    #: filled in by the catalog once every entry is known (DLQ subjects follow the event topics)
    subjects: list[str] = field(default_factory=list)

    @property
    def latest(self) -> SchemaVersion:
        return self.versions[-1]

    def version(self, number: int) -> SchemaVersion:
        for candidate in self.versions:
            if candidate.version == number:
                return candidate
        raise KeyError(f"{self.name} has no version {number} (has {self.version_numbers})")

    @property
    def version_numbers(self) -> list[int]:
        return [v.version for v in self.versions]

    @property
    def group(self) -> str:
        """The Apicurio group: ccompat's default group for topic subjects, else per kind."""
        return CCOMPAT_GROUP if self.uses_ccompat else f"globalmart.{self.kind}"

    @property
    def uses_ccompat(self) -> bool:
        """Topic values go through the Confluent-compatible API (serializers use it)."""
        return self.kind in ("events", "deadletter")

    @property
    def database(self) -> str | None:
        return SINK_DATABASES.get(self.kind)

    @property
    def label(self) -> str:
        """How violations name it: its subjects."""
        return ", ".join(self.subjects) if self.subjects else self.name


@dataclass
class Catalog:
    entries: dict[str, SchemaEntry]
    #: problems met while loading (unreadable files, bad layout); `check` reports them
    problems: list[Violation] = field(default_factory=list)
    #: the released manifest's raw content ({} when the tree has none)
    released: dict[str, str] = field(default_factory=dict)

    def __iter__(self) -> Iterator[SchemaEntry]:
        return iter(self.entries.values())

    def entry(self, name: str) -> SchemaEntry:
        try:
            return self.entries[name]
        except KeyError:
            raise KeyError(f"no schema named {name!r}") from None

    def of_kind(self, kind: str) -> list[SchemaEntry]:
        return [e for e in self if e.kind == kind]

    def tables(self, database: str) -> list[SchemaEntry]:
        """The sink tables stored in `realtime` or `warehouse`."""
        if database not in SINK_DATABASES.values():
            raise ValueError(f"unknown database {database!r}: use 'realtime' or 'warehouse'")
        return [e for e in self if e.database == database]

    def subjects(self) -> list[tuple[str, SchemaEntry]]:
        return [(subject, entry) for entry in self for subject in entry.subjects]

    def by_subject(self, subject: str) -> SchemaEntry:
        """Find a schema by subject, record name or `group/artifact`."""
        for candidate, entry in self.subjects():
            if subject in (candidate, f"{entry.group}/{candidate}"):
                return entry
        if subject in self.entries:
            return self.entries[subject]
        raise KeyError(f"no subject or schema named {subject!r}")

    @property
    def event_topics(self) -> list[str]:
        return [t for e in self.of_kind("events") for t in [e.latest.topic] if t]


def load_catalog(root: Traversable | None = None) -> Catalog:
    """Read every schema under `root` (default: the packaged tree). Never raises on bad content:
    problems are collected in `catalog.problems` so one run reports all of them."""
    root = root if root is not None else default_root()
    entries: dict[str, SchemaEntry] = {}
    problems: list[Violation] = []
    if not root.is_dir():
        problems.append(Violation(str(root), 0, "", "layout", "schema folder not found"))
        return Catalog(entries, problems)

    for kind_dir in sorted(root.iterdir(), key=lambda p: p.name):
        if kind_dir.name in (MANIFEST_FILE, "BUILD") or kind_dir.name.startswith("."):
            continue
        if kind_dir.name not in KINDS or not kind_dir.is_dir():
            problems.append(
                _layout(kind_dir.name, f"unexpected entry; kinds are {', '.join(KINDS)}")
            )
            continue
        for name_dir in sorted(kind_dir.iterdir(), key=lambda p: p.name):
            where = f"{kind_dir.name}/{name_dir.name}"
            if not name_dir.is_dir() or not _NAME.match(name_dir.name):
                problems.append(_layout(where, "expected a snake_case folder per schema"))
                continue
            if name_dir.name in entries:
                other = entries[name_dir.name].kind
                problems.append(
                    _layout(where, f"name already used in {other}/: one name per concept")
                )
                continue
            entry = SchemaEntry(kind_dir.name, name_dir.name)
            for file in sorted(name_dir.iterdir(), key=lambda p: p.name):
                version = _read_version(entry, file, problems)
                if version is not None:
                    entry.versions.append(version)
            entry.versions.sort(key=lambda v: v.version)
            if entry.versions:
                entries[entry.name] = entry
            else:
                problems.append(_layout(where, "no v<N>.avsc file"))

    ordered = sorted(entries.values(), key=lambda e: (KINDS.index(e.kind), e.name))
    catalog = Catalog({e.name: e for e in ordered}, problems, _read_manifest(root, problems))
    _assign_subjects(catalog)
    return catalog


def _layout(where: str, message: str) -> Violation:
    return Violation(where, 0, "", "layout", message)


def _read_version(
    entry: SchemaEntry, file: Traversable, problems: list[Violation]
) -> SchemaVersion | None:
    where = f"{entry.kind}/{entry.name}/{file.name}"
    if file.name == "BUILD":
        return None
    match = _VERSION_FILE.match(file.name)
    if not match or not file.is_file():
        problems.append(_layout(where, "expected only v<N>.avsc files (N = 1, 2, ...)"))
        return None
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        problems.append(Violation(where, 0, "", "syntax", f"not valid JSON: {exc}"))
        return None
    if not isinstance(data, dict) or data.get("type") != "record":
        problems.append(Violation(where, 0, "", "syntax", "the top level must be an Avro record"))
        return None
    version = SchemaVersion(entry.kind, entry.name, int(match.group(1)), where, data)
    try:
        version.avro
    except (avro.errors.AvroException, ValueError, TypeError) as exc:
        problems.append(Violation(where, 0, "", "syntax", f"not a valid Avro schema: {exc}"))
        return None
    return version


def _read_manifest(root: Traversable, problems: list[Violation]) -> dict[str, str]:
    file = root / MANIFEST_FILE
    if not file.is_file():
        return {}
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        released = data["released"]
        assert isinstance(released, dict)
    except (ValueError, KeyError, AssertionError) as exc:
        problems.append(Violation(MANIFEST_FILE, 0, "", "immutable", f"unreadable: {exc}"))
        return {}
    return {str(k): str(v) for k, v in released.items()}


def _assign_subjects(catalog: Catalog) -> None:
    topics = catalog.event_topics
    for entry in catalog:
        if entry.kind == "events":
            topic = entry.latest.topic
            entry.subjects = [f"{topic}-value"] if topic else []
        elif entry.kind == "deadletter":
            # One dead-letter record serves every event topic's DLQ.
            entry.subjects = [f"{topic}{DLQ_SUFFIX}-value" for topic in topics]
        else:
            entry.subjects = [entry.name]
