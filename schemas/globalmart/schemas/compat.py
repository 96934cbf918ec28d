"""Offline schema evolution checks: Apache avro's ReaderWriterCompatibilityChecker, per mode.

BACKWARD means the new schema (reader) reads data written with an old one (writer); FORWARD the
reverse; FULL both; *_TRANSITIVE against every earlier version instead of only the previous one.
The checker answers for the whole record and its locations get lost inside unions, so a failing
pair is re-checked field by field to name the field at fault (items.quantity, not /fields/6/...).

Avro resolution ignores logical types, so decimal(12,2) -> decimal(12,3) or timestamp-micros ->
-millis pass the checker while silently changing meaning; `check_semantics` refuses those, and a
changed primary key or topic, which would break the table or the subject respectively.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import avro.schema
from avro.compatibility import (
    ReaderWriterCompatibilityChecker,
    SchemaCompatibilityType,
    lookup_writer_field,
)

from globalmart.schemas.catalog import SchemaEntry, SchemaVersion
from globalmart.schemas.policy import Mode
from globalmart.schemas.violations import Violation


@dataclass(frozen=True)
class Incompatibility:
    field: str
    #: avro's SchemaIncompatibilityType value, e.g. reader_field_missing_default_value
    kind: str
    detail: str


def compatible(reader: avro.schema.Schema, writer: avro.schema.Schema) -> bool:
    result = ReaderWriterCompatibilityChecker().get_compatibility(reader, writer)
    return result.compatibility is SchemaCompatibilityType.compatible


def incompatibilities(reader: SchemaVersion, writer: SchemaVersion) -> list[Incompatibility]:
    """Why `reader` cannot read data written with `writer` (empty when it can)."""
    return _explain(reader.avro, writer.avro, "")


def check_entry(
    entry: SchemaEntry, mode: Mode, candidates: Iterable[int] | None = None
) -> list[Violation]:
    """Check each candidate version (default: every version after v1) against earlier ones."""
    if mode.mode == "NONE":
        return []
    wanted = set(entry.version_numbers[1:] if candidates is None else candidates)
    violations: list[Violation] = []
    for index, new in enumerate(entry.versions):
        if new.version not in wanted or index == 0:
            continue
        earlier = entry.versions[:index]
        for old in earlier if mode.transitive else earlier[-1:]:
            violations.extend(check_pair(entry, mode, old, new))
        violations.extend(check_semantics(entry, entry.versions[index - 1], new))
    return violations


def check_pair(
    entry: SchemaEntry, mode: Mode, old: SchemaVersion, new: SchemaVersion
) -> list[Violation]:
    found: list[Violation] = []
    directions = []
    if mode.backward:
        directions.append(
            (new, old, f"v{new.version} cannot read data written with v{old.version}")
        )
    if mode.forward:
        directions.append(
            (old, new, f"readers on v{old.version} cannot read data written with v{new.version}")
        )
    for reader, writer, consequence in directions:
        for problem in incompatibilities(reader, writer):
            found.append(
                Violation(
                    entry.label,
                    new.version,
                    problem.field,
                    mode.mode,
                    f"{problem.kind}: {problem.detail} — {consequence}",
                )
            )
    return found


def check_semantics(entry: SchemaEntry, old: SchemaVersion, new: SchemaVersion) -> list[Violation]:
    """What Avro resolution does not see but our readers do."""
    found: list[Violation] = []
    for path, (before, after) in _logical_types(old.data, new.data).items():
        if before != after:
            found.append(
                Violation(
                    entry.label,
                    new.version,
                    path,
                    "logical_type",
                    f"changed from {before or 'none'} to {after or 'none'} in place: values would "
                    "be reinterpreted; add a new field instead",
                )
            )
    if old.primary_key != new.primary_key:
        found.append(
            Violation(
                entry.label,
                new.version,
                "",
                "primary_key",
                f"changed from {old.primary_key} to {new.primary_key}: an existing table keeps its "
                "key; a new key is a new table",
            )
        )
    if old.topic != new.topic:
        found.append(
            Violation(
                entry.label,
                new.version,
                "",
                "topic",
                f"changed from {old.topic} to {new.topic}: the subject would change; a new topic "
                "is a new schema",
            )
        )
    return found


# -- naming the field at fault -----------------------------------------------------------------
def _explain(
    reader: avro.schema.Schema, writer: avro.schema.Schema, path: str
) -> list[Incompatibility]:
    checker = ReaderWriterCompatibilityChecker()
    result = checker.get_compatibility(reader, writer)
    if result.compatibility is SchemaCompatibilityType.compatible:
        return []
    # Descend to the most specific place; if that finds nothing, report this level as a whole.
    found: list[Incompatibility] = []
    reader_inner, writer_inner = _unwrap_nullable(reader), _unwrap_nullable(writer)
    if (reader_inner, writer_inner) != (reader, writer) and _is_null_safe(reader, writer):
        found = _explain(reader_inner, writer_inner, path)
    elif isinstance(reader, avro.schema.RecordSchema) and isinstance(
        writer, avro.schema.RecordSchema
    ):
        found = _explain_record(reader, writer, path)
    elif isinstance(reader, avro.schema.ArraySchema) and isinstance(
        writer, avro.schema.ArraySchema
    ):
        found = _explain(reader.items, writer.items, f"{path}[]")
    elif isinstance(reader, avro.schema.MapSchema) and isinstance(writer, avro.schema.MapSchema):
        found = _explain(reader.values, writer.values, f"{path}{{}}")
    if found:
        return found
    kind = result.incompatibilities[0].value if result.incompatibilities else "incompatible"
    return [Incompatibility(path, kind, _describe(kind, reader, writer, result.messages))]


def _explain_record(
    reader: avro.schema.RecordSchema, writer: avro.schema.RecordSchema, path: str
) -> list[Incompatibility]:
    found: list[Incompatibility] = []
    aliases = reader.props.get("aliases")
    renamed = writer.fullname not in (aliases if isinstance(aliases, list) else [])
    if reader.name != writer.name and renamed:
        found.append(
            Incompatibility(
                path, "name_mismatch", f"record renamed from {writer.fullname} to {reader.fullname}"
            )
        )
    for reader_field in reader.fields:
        field_path = f"{path}.{reader_field.name}" if path else reader_field.name
        writer_field = lookup_writer_field(writer_schema=writer, reader_field=reader_field)
        if writer_field is None:
            if not reader_field.has_default:
                found.append(
                    Incompatibility(
                        field_path,
                        "reader_field_missing_default_value",
                        "present in the reader but not in the writer, and it has no default",
                    )
                )
            continue
        found.extend(_explain(reader_field.type, writer_field.type, field_path))
    return found


def _unwrap_nullable(schema: avro.schema.Schema) -> avro.schema.Schema:
    if isinstance(schema, avro.schema.UnionSchema):
        branches = [s for s in schema.schemas if s.type != "null"]
        if len(branches) == 1 and len(schema.schemas) == 2:
            return branches[0]
    return schema


def _is_null_safe(reader: avro.schema.Schema, writer: avro.schema.Schema) -> bool:
    """Unwrapping loses nothing: the writer cannot write null unless the reader accepts it."""
    writer_nullable = isinstance(writer, avro.schema.UnionSchema)
    reader_nullable = isinstance(reader, avro.schema.UnionSchema)
    return reader_nullable or not writer_nullable


def _describe(
    kind: str, reader: avro.schema.Schema, writer: avro.schema.Schema, messages: set[str]
) -> str:
    if kind == "type_mismatch":
        return f"{_type_name(reader)} (reader) cannot read {_type_name(writer)} (writer)"
    if kind == "missing_enum_symbols" and isinstance(reader, avro.schema.EnumSchema):
        missing = sorted(set(getattr(writer, "symbols", [])) - set(reader.symbols))
        return f"enum {reader.name} lacks symbol(s) {', '.join(missing)} and has no default"
    if kind == "missing_union_branch":
        return (
            f"reader type {_type_name(reader)} has no branch for writer type {_type_name(writer)}"
        )
    if kind == "fixed_size_mismatch":
        return f"fixed size changed ({'; '.join(sorted(messages))})"
    if kind == "name_mismatch":
        return f"named type renamed ({'; '.join(sorted(messages))})"
    return "; ".join(sorted(messages)) or kind


def _type_name(schema: avro.schema.Schema) -> str:
    if isinstance(schema, avro.schema.UnionSchema):
        return "[" + ", ".join(_type_name(s) for s in schema.schemas) + "]"
    if isinstance(schema, avro.schema.NamedSchema):
        return f"{schema.type} {schema.name}"
    logical = schema.props.get("logicalType")
    if logical == "decimal":
        return f"decimal({schema.props.get('precision')},{schema.props.get('scale', 0)})"
    return f"{schema.type} ({logical})" if logical else str(schema.type)


def _logical_types(old: dict[str, Any], new: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Field path -> (old, new) logical type description, for fields present in both."""
    before, after = _collect_logical(old, ""), _collect_logical(new, "")
    return {path: (before[path], after[path]) for path in before.keys() & after.keys()}


def _collect_logical(schema: Any, path: str) -> dict[str, str]:
    found: dict[str, str] = {}
    if isinstance(schema, list):  # union: describe its non-null branch
        branches = [s for s in schema if s != "null"]
        return _collect_logical(branches[0], path) if len(branches) == 1 else found
    if not isinstance(schema, dict):
        return {path: ""} if path else found
    kind = schema.get("type")
    if kind == "record":
        for field in schema.get("fields", []):
            sub = f"{path}.{field['name']}" if path else field["name"]
            found.update(_collect_logical(field["type"], sub))
        return found
    if kind == "array":
        return _collect_logical(schema.get("items"), f"{path}[]")
    if kind == "map":
        return _collect_logical(schema.get("values"), f"{path}{{}}")
    logical = schema.get("logicalType", "")
    if logical == "decimal":
        logical = f"decimal({schema.get('precision')},{schema.get('scale', 0)})"
    return {path: str(logical)} if path else found
