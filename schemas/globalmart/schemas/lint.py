"""The project's schema conventions, checked on each schema's latest version and every candidate.

Released versions that predate a newer convention are left alone (they cannot change); the latest
version must follow the conventions, so fixing one means writing a new version.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from globalmart.schemas.catalog import Catalog, SchemaEntry, SchemaVersion
from globalmart.schemas.ddl import RESERVED, UnsupportedType, sql_type
from globalmart.schemas.manifest import candidates
from globalmart.schemas.violations import Violation

TABLE_TYPES = {
    "realtime": ("window", "event", "support"),
    "warehouse": ("dimension", "fact", "aggregate"),
}
WINDOW_COLUMNS = ("window_start", "window_end", "is_final", "created_at", "updated_at")
DETECTION_COLUMNS = ("detected_at", "alert_generated_at")
_SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
_MONEY_NAME = re.compile(r"(amount|price|revenue|monetary|_value)$")
_TIME_NAME = re.compile(r"(_at|_time|^window_start|^window_end)$")
_DURATION = re.compile(r"^[1-9][0-9]* (second|minute|hour|day)s?$")
_MAX_IDENTIFIER = 63


def lint(catalog: Catalog) -> list[Violation]:
    problems: list[Violation] = []
    for entry in catalog:
        wanted = set(candidates(entry, catalog.released)) | {entry.latest.version}
        for version in entry.versions:
            if version.version in wanted:
                problems.extend(lint_version(entry, version))
    return problems


def lint_version(entry: SchemaEntry, version: SchemaVersion) -> list[Violation]:
    problems: list[Violation] = []

    def problem(field: str, rule: str, message: str) -> None:
        problems.append(Violation(entry.label, version.version, field, rule, message))

    data = version.data
    if data.get("name") != entry.name:
        problem(
            "", "naming", f"record name {data.get('name')!r} must equal its folder {entry.name!r}"
        )
    if data.get("namespace") != f"globalmart.{entry.kind}":
        problem("", "naming", f"namespace must be globalmart.{entry.kind}")

    for path, node in _walk(data, ""):
        if not str(node.get("doc", "")).strip():
            problem(path, "doc", "every record, field and enum needs a doc")
    for path, field in _fields(data, ""):
        name, avro_type = field["name"], field["type"]
        if not _SNAKE.match(name):
            problem(path, "naming", "field names are snake_case")
        logical = _logical(avro_type)
        if logical in ("timestamp-millis", "local-timestamp-micros", "local-timestamp-millis"):
            problem(path, "timestamp", f"{logical}: timestamps are UTC timestamp-micros")
        if _TIME_NAME.search(name) and _base(avro_type) == "long" and logical != "timestamp-micros":
            problem(path, "timestamp", "a *_at/*_time field must be a timestamp-micros")
        if _MONEY_NAME.search(name) and _base(avro_type) in ("float", "double"):
            problem(path, "money", "money is a bytes decimal (precision 12+, scale 2), never float")

    if entry.kind == "events":
        problems.extend(_lint_event(entry, version))
    if entry.database:
        problems.extend(_lint_table(entry, version))
    elif version.primary_key:
        problems.extend(_lint_key(entry, version))
    return problems


def _lint_event(entry: SchemaEntry, version: SchemaVersion) -> list[Violation]:
    problems = []
    label, number = entry.label, version.version
    if not version.topic:
        problems.append(Violation(label, number, "", "event", 'declare its Kafka topic ("topic")'))
    for required in ("event_id", "event_time"):
        if version.field(required) is None:
            problems.append(Violation(label, number, required, "event", "every event carries it"))
    key = version.data.get("key")
    if key is not None and version.field(str(key)) is None:
        problems.append(Violation(label, number, str(key), "event", '"key" names no field'))
    return problems


def _lint_key(entry: SchemaEntry, version: SchemaVersion) -> list[Violation]:
    problems = []
    for column in version.primary_key:
        field = version.field(column)
        if field is None:
            problems.append(
                Violation(entry.label, version.version, column, "primary_key", "no such field")
            )
        elif isinstance(field["type"], list):
            problems.append(
                Violation(
                    entry.label, version.version, column, "primary_key", "key fields are non-null"
                )
            )
    return problems


def _lint_table(entry: SchemaEntry, version: SchemaVersion) -> list[Violation]:
    label, number = entry.label, version.version
    problems = []

    def problem(field: str, rule: str, message: str) -> None:
        problems.append(Violation(label, number, field, rule, message))

    if not version.primary_key:
        problem("", "primary_key", 'sink tables declare a natural "primary_key"')
    problems.extend(_lint_key(entry, version))
    for columns in version.indexes:
        for column in columns:
            if version.field(column) is None:
                problem(column, "indexes", "index names no such field")
    if entry.name in RESERVED or len(entry.name) > _MAX_IDENTIFIER:
        problem("", "naming", "table names must be usable unquoted in SQL (not reserved, <= 63)")
    for field in version.fields:
        name = field["name"]
        if name in RESERVED or len(name) > _MAX_IDENTIFIER:
            problem(name, "naming", "column names must be usable unquoted in SQL")
        try:
            sql_type(field["type"])
        except UnsupportedType as exc:
            problem(name, "sql_type", str(exc))

    table_type = version.table_type
    allowed = TABLE_TYPES[entry.kind]
    if table_type not in allowed:
        problem("", "table_type", f"\"table_type\" must be one of {', '.join(allowed)}")
    duration = version.data.get("window_duration")
    if duration is not None and not _DURATION.match(str(duration)):
        problem("", "window", f'window_duration {duration!r} is not like "5 minutes"')
    if table_type == "window":
        for column in WINDOW_COLUMNS:
            if version.field(column) is None:
                problem(column, "window", "windowed tables carry " + ", ".join(WINDOW_COLUMNS))
        if version.primary_key[:2] != ["window_start", "window_end"]:
            problem(
                "", "window", "the key of a windowed table starts with window_start, window_end"
            )
        if duration is None:
            problem("", "window", 'windowed tables declare their "window_duration"')
    if table_type == "event" and not any(version.field(c) for c in DETECTION_COLUMNS):
        problem("", "event", "event tables record " + " or ".join(DETECTION_COLUMNS))
    return problems


# -- walking a schema's JSON --------------------------------------------------------------------
def _walk(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every record, field and enum node that needs a doc, with its dotted path."""
    if isinstance(node, list):
        for branch in node:
            yield from _walk(branch, path)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind in ("record", "enum"):
        yield (path or node.get("name", ""), node)
    if kind == "record":
        for field in node.get("fields", []):
            sub = f"{path}.{field['name']}" if path else field["name"]
            yield (sub, field)
            yield from _walk(field["type"], sub)
    elif kind == "array":
        yield from _walk(node.get("items"), f"{path}[]")
    elif kind == "map":
        yield from _walk(node.get("values"), f"{path}{{}}")


def _fields(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for sub, candidate in _walk(node, path):
        if (
            "name" in candidate
            and "type" in candidate
            and candidate.get("type")
            not in (
                "record",
                "enum",
                "fixed",
            )
        ):
            yield sub, candidate


def _nonnull(avro_type: Any) -> Any:
    if isinstance(avro_type, list):
        branches = [b for b in avro_type if b != "null"]
        return branches[0] if len(branches) == 1 else avro_type
    return avro_type


def _base(avro_type: Any) -> str:
    inner = _nonnull(avro_type)
    if isinstance(inner, dict):
        return str(inner.get("type"))
    return str(inner)


def _logical(avro_type: Any) -> str:
    inner = _nonnull(avro_type)
    return str(inner.get("logicalType", "")) if isinstance(inner, dict) else ""
