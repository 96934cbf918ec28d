"""Rows to JSON values and back (cursors), one converter per column kind.

Wire format: timestamps as UTC ISO-8601 with a `Z` (`2026-11-24T10:15:00.250000Z`, microseconds
as stored), dates as `YYYY-MM-DD`, decimals as strings (exact money, no float rounding), bytes as
base64, maps as objects. Floats that are not finite become null (JSON has no NaN).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Sequence
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from globalmart.gateway.tables import (
    BOOL,
    BYTES,
    DATE,
    DECIMAL,
    ENUM,
    FLOAT,
    INT,
    JSON,
    TEXT,
    TEXT_ARRAY,
    TIMESTAMP,
    ColumnSpec,
    TableSpec,
)

Encoder = Callable[[Any], Any]


def iso_utc(value: datetime) -> str:
    """A timezone-aware datetime as UTC ISO-8601 with `Z` (naive ones are refused upstream)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: every timestamp is UTC and timezone-aware")
    text = value.astimezone(timezone.utc).isoformat()
    return text[:-6] + "Z"


def _decimal(value: Decimal) -> str:
    return format(value, "f")


def _float(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _bytes(value: bytes | memoryview) -> str:
    return base64.b64encode(bytes(value)).decode("ascii")


_ENCODERS: dict[str, Encoder] = {
    TIMESTAMP: iso_utc,
    DATE: lambda v: v.isoformat(),
    DECIMAL: _decimal,
    FLOAT: _float,
    BYTES: _bytes,
    INT: int,
    BOOL: bool,
    TEXT: str,
    ENUM: str,
    JSON: lambda v: v,
    TEXT_ARRAY: list,
}


def encoder(column: ColumnSpec) -> Encoder:
    convert = _ENCODERS[column.kind]
    if column.nullable or column.kind == FLOAT:
        return lambda v: None if v is None else convert(v)
    return convert


def row_encoder(spec: TableSpec) -> Callable[[Sequence[Any]], dict[str, Any]]:
    """A function from a database row (columns in spec order) to a JSON-ready dict."""
    pairs = [(c.name, encoder(c)) for c in spec.columns]

    def encode(row: Sequence[Any]) -> dict[str, Any]:
        return {name: convert(value) for (name, convert), value in zip(pairs, row)}

    return encode


def dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


# -- parsing client values (filters, cursors) ------------------------------------------------------
class BadValue(ValueError):
    pass


def parse_timestamp(text: str) -> datetime:
    """ISO-8601 with an explicit offset (or `Z`); naive times are ambiguous and refused."""
    try:
        value = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise BadValue(f"{text!r} is not an ISO-8601 timestamp") from None
    if value.tzinfo is None:
        raise BadValue(f"{text!r} has no UTC offset: add `Z` or `+00:00`")
    return value.astimezone(timezone.utc)


def parse_value(column: ColumnSpec, value: Any) -> Any:
    """The Python value for a JSON value of this column (a cursor key part)."""
    kind = column.kind
    try:
        if kind == TIMESTAMP and isinstance(value, str):
            return parse_timestamp(value)
        if kind == DATE and isinstance(value, str):
            return date.fromisoformat(value)
        if kind == DECIMAL and isinstance(value, str):
            parsed = Decimal(value)
            if not parsed.is_finite():
                raise BadValue("not finite")
            return parsed
        if kind == INT and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind == FLOAT and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if kind == BOOL and isinstance(value, bool):
            return value
        if kind in (TEXT, ENUM) and isinstance(value, str):
            return value
    except (ValueError, InvalidOperation):
        pass
    raise BadValue(f"{column.name}: {value!r} is not a valid {kind}")


def b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise BadValue("not base64url") from None


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def decode_row(spec: TableSpec, data: dict[str, Any]) -> list[Any]:
    """The database values (spec column order) of an encoded row: the inverse of row_encoder."""
    values: list[Any] = []
    for column in spec.columns:
        value = data.get(column.name)
        if value is None:
            values.append(None)
        elif column.kind == BYTES:
            values.append(base64.b64decode(value))
        elif column.kind in (JSON, TEXT_ARRAY):
            values.append(value)
        else:
            values.append(parse_value(column, value))
    return values
