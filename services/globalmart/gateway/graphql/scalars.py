"""Scalars: UTC timestamps with `Z` (as REST), `Long` for Avro longs (GraphQL's Int: 32 bits)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

from globalmart.gateway.encode import iso_utc, parse_timestamp


def _parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("DateTime must be an ISO-8601 string with a UTC offset")
    return parse_timestamp(value)


def _parse_long(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError("Long must be an integer")
    number = int(value)
    if not -(2**63) <= number < 2**63:
        raise ValueError("Long must fit in 64 bits")
    return number


#: Python type of Avro longs in generated types; mapped to the `Long` scalar in the schema config
LongInt = NewType("LongInt", int)

UTCDateTime = strawberry.scalar(
    name="DateTime",
    description="UTC timestamp, ISO-8601 with `Z` (input: any ISO-8601 with an offset).",
    serialize=iso_utc,
    parse_value=_parse_datetime,
)

Long = strawberry.scalar(
    name="Long",
    description="A 64-bit integer (an Avro long), sent as a JSON number.",
    serialize=int,
    parse_value=_parse_long,
)

#: for StrawberryConfig(scalar_map=...)
SCALAR_MAP: Mapping[object, ScalarDefinition] = {datetime: UTCDateTime, LongInt: Long}
