"""The JSON view of an Avro event that the message pacts hold, both ways, driven by the schema.

A Kafka message is Avro (Confluent framing), which Pact cannot match field by field; a pact
holds the event as JSON instead, and both sides convert through here with the event's schema:
the provider decodes the bytes its generator produced and shows them as JSON, the consumer turns
the pact's JSON back into an Avro datum, encodes it with a registered writer schema and hands the
bytes to the stream jobs' decoder.

JSON view: timestamps as UTC ISO-8601 with microseconds and `Z`, decimals as strings (exact),
bytes as latin-1 text, enums as their symbol, unions as the bare value (null or the branch),
maps and arrays as JSON objects and arrays. Absent fields take the schema's default.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})


class _Names:
    """Named types (records, enums, fixed) seen so far, to resolve references by name."""

    def __init__(self) -> None:
        self.types: dict[str, Any] = {}

    def resolve(self, schema: Any) -> Any:
        if isinstance(schema, str) and schema not in _PRIMITIVES:
            found = self.types.get(schema) or next(
                (t for name, t in self.types.items() if name.rpartition(".")[2] == schema), None
            )
            if found is None:
                raise ValueError(f"unknown Avro type {schema!r}")
            return found
        if isinstance(schema, dict) and schema.get("type") in ("record", "enum", "fixed"):
            self.types.setdefault(str(schema["name"]), schema)
        if isinstance(schema, dict) and isinstance(schema.get("type"), (dict, list)):
            return self.resolve(schema["type"])
        return schema


def to_json(datum: Any, schema: Any, names: _Names | None = None) -> Any:
    """An Avro datum (fastavro's Python types) -> its JSON view."""
    names = names or _Names()
    schema = names.resolve(schema)
    if isinstance(schema, list):
        return to_json(datum, _branch(datum, schema, names), names)
    kind = schema if isinstance(schema, str) else schema["type"]
    logical = schema.get("logicalType") if isinstance(schema, dict) else None
    if datum is None:
        return None
    if logical in ("timestamp-micros", "timestamp-millis"):
        moment = datum if isinstance(datum, datetime) else _from_epoch(datum, logical)
        return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if logical == "decimal":
        return str(datum)
    if kind == "record":
        return {f["name"]: to_json(datum[f["name"]], f["type"], names) for f in schema["fields"]}
    if kind == "array":
        return [to_json(v, schema["items"], names) for v in datum]
    if kind == "map":
        return {k: to_json(v, schema["values"], names) for k, v in datum.items()}
    if kind in ("bytes", "fixed"):
        return bytes(datum).decode("latin-1")
    return datum


def from_json(value: Any, schema: Any, names: _Names | None = None) -> Any:
    """A JSON view -> an Avro datum (timezone-aware datetimes, Decimals), defaults filled in."""
    names = names or _Names()
    schema = names.resolve(schema)
    if isinstance(schema, list):
        return from_json(value, _branch(value, schema, names), names)
    kind = schema if isinstance(schema, str) else schema["type"]
    logical = schema.get("logicalType") if isinstance(schema, dict) else None
    if value is None:
        if kind != "null":
            raise ValueError(f"null where the schema wants {kind}")
        return None
    if logical in ("timestamp-micros", "timestamp-millis"):
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if moment.tzinfo is None:
            raise ValueError(f"timestamp {value!r} has no time zone")
        return moment.astimezone(timezone.utc)
    if logical == "decimal":
        return Decimal(str(value))
    if kind == "record":
        if not isinstance(value, Mapping):
            raise ValueError(f"{schema['name']}: expected an object, got {value!r}")
        unknown = set(value) - {f["name"] for f in schema["fields"]}
        if unknown:
            raise ValueError(f"{schema['name']}: unknown field(s) {', '.join(sorted(unknown))}")
        datum = {}
        for f in schema["fields"]:
            if f["name"] in value:
                datum[f["name"]] = from_json(value[f["name"]], f["type"], names)
            elif "default" in f:
                datum[f["name"]] = from_json(f["default"], f["type"], names)
            else:
                raise ValueError(f"{schema['name']}: missing field {f['name']!r}")
        return datum
    if kind == "array":
        return [from_json(v, schema["items"], names) for v in value]
    if kind == "map":
        return {k: from_json(v, schema["values"], names) for k, v in value.items()}
    if kind in ("bytes", "fixed"):
        return str(value).encode("latin-1")
    return value


def _from_epoch(value: int, logical: str) -> datetime:
    micros = value if logical == "timestamp-micros" else value * 1000
    return _EPOCH + timedelta(microseconds=micros)


def _branch(value: Any, union: list[Any], names: _Names) -> Any:
    """The union branch a value belongs to: null for None, else the first other branch."""
    for branch in union:
        resolved = names.resolve(branch)
        is_null = resolved == "null" or (isinstance(resolved, dict) and resolved["type"] == "null")
        if is_null == (value is None):
            return branch
    raise ValueError(f"no branch of {union} takes {value!r}")
