"""GraphQL object types generated from the table specs (so from the sink Avro schemas).

Each served table becomes a type named like the table, with one field per column (same name, no
camel-casing: one name per concept) and the same nullability as the Avro field. Avro int -> Int,
long -> Long, double/float -> Float (nullable: NaN has no JSON form), decimal -> Decimal (a
string), timestamp -> DateTime (UTC, `Z`), date -> Date, enum -> an enum named like the Avro enum,
map -> JSON, bytes -> Base64, array of strings -> [String!].

Relations: a table with a `product_id` or `user_id` column also gets fields named after the
tables in `RELATIONS`, each resolving to that table's newest row for the same key, through a
DataLoader (one query per relation per request, whatever the number of parent rows).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from types import GenericAlias
from typing import Any, Optional

import strawberry
from strawberry.scalars import JSON as JSONScalar
from strawberry.scalars import Base64

from globalmart.gateway.graphql.scalars import LongInt
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

#: key column -> tables whose newest row per key is offered as a field on every other table
RELATIONS: dict[str, tuple[str, ...]] = {
    "product_id": ("product_performance", "product_sales_velocity"),
    "user_id": ("rfm_segments",),
}


def relation_targets() -> set[str]:
    return {t for targets in RELATIONS.values() for t in targets}


@dataclass
class TableTypes:
    spec: TableSpec
    row: type
    page: type
    #: builds a row object from a database row (columns in spec order)
    build: Callable[[Sequence[Any]], Any]
    relations: list[tuple[str, str]] = field(default_factory=list)


def _scalar(column: ColumnSpec, enums: dict[str, type[enum.Enum]]) -> Any:
    kind = column.kind
    if kind == INT:
        return LongInt if column.wide else int
    simple = {
        FLOAT: float,
        BOOL: bool,
        TEXT: str,
        DECIMAL: Decimal,
        TIMESTAMP: datetime,
        DATE: date,
        BYTES: Base64,
        JSON: JSONScalar,
        TEXT_ARRAY: list[str],
    }
    if kind in simple:
        return simple[kind]
    if kind == ENUM:
        if column.enum_name not in enums:
            symbols = {s: s for s in column.symbols}
            members = enum.Enum(column.enum_name, symbols)  # type: ignore[misc]
            enums[column.enum_name] = strawberry.enum(members, description=column.doc or None)
        return enums[column.enum_name]
    raise ValueError(f"no GraphQL type for {kind}")


def graphql_annotation(column: ColumnSpec, enums: dict[str, type[enum.Enum]]) -> Any:
    annotation = _scalar(column, enums)
    return Optional[annotation] if column.nullable or column.kind == FLOAT else annotation


def _converter(column: ColumnSpec, enums: dict[str, type[enum.Enum]]) -> Callable[[Any], Any]:
    if column.kind == ENUM:
        members = enums[column.enum_name]
        return lambda v: None if v is None else members(v)
    if column.kind == FLOAT:
        return lambda v: v if v is None or math.isfinite(v) else None
    if column.kind == BYTES:
        return lambda v: None if v is None else bytes(v)
    return lambda v: v


def build_types(
    specs: dict[str, TableSpec], relation_field: Callable[[str, str, type], Any]
) -> dict[str, TableTypes]:
    """Types for every public table; `relation_field(key, target, target_row_type)` makes the
    resolver field for a relation (see schema.py)."""
    enums: dict[str, type[enum.Enum]] = {}
    built: dict[str, TableTypes] = {}
    targets = relation_targets()
    # Relation targets first: the tables that point at them need their types.
    order = sorted(
        (s for s in specs.values() if s.access == "public"), key=lambda s: s.name not in targets
    )
    for spec in order:
        annotations = {c.name: graphql_annotation(c, enums) for c in spec.columns}
        namespace: dict[str, Any] = {"__annotations__": annotations, "__doc__": spec.doc}
        relations = []
        if spec.name not in targets:
            for key, names in RELATIONS.items():
                if key not in spec.column_names:
                    continue
                for target in names:
                    if target in built:
                        namespace[target] = relation_field(key, target, built[target].row)
                        relations.append((key, target))
        row = strawberry.type(type(spec.name, (), namespace), name=spec.name, description=spec.doc)
        # `list[row]`, spelled out: `row` is a class made at run time, not a static type.
        items = GenericAlias(list, (row,))
        page = strawberry.type(
            type(
                f"{spec.name}_page",
                (),
                {"__annotations__": {"items": items, "next_cursor": Optional[str]}},
            ),
            name=f"{spec.name}_page",
            description=f"One page of {spec.name}; pass next_cursor as `after` for the next.",
        )
        converters = [(c.name, _converter(c, enums)) for c in spec.columns]

        def build(values: Sequence[Any], _row: type = row, _conv: list[Any] = converters) -> Any:
            return _row(**{name: convert(v) for (name, convert), v in zip(_conv, values)})

        built[spec.name] = TableTypes(spec, row, page, build, relations)
    return built
