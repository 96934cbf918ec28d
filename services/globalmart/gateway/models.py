"""Pydantic response models generated from the table specs (for OpenAPI and for tests).

Routes return pre-serialized bytes (straight from the cache), so these models document the wire
format rather than re-validate every response; tests validate real responses against them, which
keeps docs and bytes in step. Model names are the table names: one name per concept.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from types import GenericAlias
from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, create_model

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

DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
UTC_PATTERN = r"Z$"


def python_type(column: ColumnSpec) -> Any:
    kind = column.kind
    if kind == TIMESTAMP:
        # Always UTC with a `Z`: the pattern documents (and tests check) the suffix.
        return Annotated[
            datetime,
            Field(json_schema_extra={"format": "date-time", "pattern": UTC_PATTERN}),
        ]
    if kind == DATE:
        return date
    if kind == DECIMAL:
        return Annotated[
            str,
            Field(
                pattern=DECIMAL_PATTERN,
                json_schema_extra={
                    "format": "decimal",
                    "x-precision": column.precision,
                    "x-scale": column.scale,
                },
            ),
        ]
    if kind == ENUM:
        return Literal[column.symbols]  # type: ignore[valid-type]
    if kind == BYTES:
        return Annotated[str, Field(json_schema_extra={"format": "byte"})]
    simple = {INT: int, FLOAT: float, BOOL: bool, TEXT: str, JSON: dict[str, str]}
    if kind in simple:
        return simple[kind]
    if kind == TEXT_ARRAY:
        return list[str]
    raise ValueError(f"no model type for {kind}")


class PageInfo(BaseModel):
    limit: int = Field(description="Rows asked for.")
    sort: str = Field(description="The sort applied (`-` = descending), then the natural key.")
    next_cursor: Optional[str] = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )
    next: Optional[str] = Field(default=None, description="The next page's path and query.")


@lru_cache(maxsize=None)
def row_model(spec: TableSpec) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for column in spec.columns:
        annotation = python_type(column)
        # NaN/infinite floats are sent as null (JSON has no NaN), so floats are nullable too.
        if column.nullable or column.kind == FLOAT:
            annotation = Optional[annotation]
        fields[column.name] = (annotation, Field(description=column.doc or None))
    model = create_model(  # type: ignore[call-overload]
        spec.name, __config__=ConfigDict(extra="forbid"), __doc__=spec.doc, **fields
    )
    return model  # type: ignore[no-any-return]


@lru_cache(maxsize=None)
def page_model(spec: TableSpec) -> type[BaseModel]:
    # `list[<row model>]`, spelled out: the row model only exists at run time, so it cannot be
    # written as a static type (the same object as `list[row_model(spec)]`).
    rows: Any = GenericAlias(list, (row_model(spec),))
    return create_model(
        f"{spec.name}_page",
        __doc__=f"One page of {spec.name}: {spec.doc}",
        data=(rows, Field(description="Rows, in the requested order.")),
        page=(PageInfo, ...),
    )


class TableInfo(BaseModel):
    name: str
    database: str
    description: str
    path: str
    primary_key: list[str]
    time_column: str
    filters: list[str]
    sort_options: list[str]
    default_sort: str
    access: str
    schema_version: int
    columns: list[dict[str, Any]]
