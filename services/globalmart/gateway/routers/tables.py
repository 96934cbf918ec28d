"""REST: one GET route per served table, generated from its spec.

`GET /api/v1/<table>` with `from`/`to` on the table's time column, one query parameter per filter
column (repeat it for several values), `sort`, `limit` and `cursor`. The handler's signature is
built from the spec, so FastAPI validates every parameter and the OpenAPI document lists each
table's real filters, sort options and row schema. Unknown parameters are refused (a typo must not
silently return unfiltered data).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal, Optional
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from globalmart.gateway.db import Database
from globalmart.gateway.encode import dumps
from globalmart.gateway.fastpath import ALIAS_KEY
from globalmart.gateway.models import TableInfo, page_model
from globalmart.gateway.problems import Problem, problem_responses
from globalmart.gateway.query import DEFAULT_LIMIT, MAX_LIMIT, TableQuery, build_query
from globalmart.gateway.security import require_role
from globalmart.gateway.state import GatewayDep, get_gateway
from globalmart.gateway.tables import DATE, TableSpec

PREFIX = "/api/v1"
_COMMON = ("from", "to", "sort", "limit", "cursor")


def table_path(spec: TableSpec) -> str:
    return f"{PREFIX}/{spec.name}"


def canonical_query_string(spec: TableSpec, query: TableQuery, cursor: str | None) -> str:
    pairs: list[tuple[str, str]] = []
    if query.time_from is not None:
        pairs.append(("from", _text(query.time_from)))
    if query.time_to is not None:
        pairs.append(("to", _text(query.time_to)))
    pairs.extend((name, value) for name, values in query.filters for value in values)
    pairs += [("sort", query.sort), ("limit", str(query.limit))]
    if cursor:
        pairs.append(("cursor", cursor))
    return urlencode(pairs)


def _text(value: datetime | date) -> str:
    if isinstance(value, datetime):
        from globalmart.gateway.encode import iso_utc

        return iso_utc(value)
    return value.isoformat()


async def page_bytes(db: Database, spec: TableSpec, query: TableQuery) -> bytes:
    page = await db.page(spec, query)
    cursor = page["page"]["next_cursor"]
    page["page"]["next"] = (
        f"{table_path(spec)}?{canonical_query_string(spec, query, cursor)}" if cursor else None
    )
    return dumps(page)


def _endpoint(spec: TableSpec) -> Callable[..., Any]:
    time_type: Any = date if spec.column(spec.time_column).kind == DATE else datetime
    time_doc = f"on `{spec.time_column}` ({'YYYY-MM-DD' if time_type is date else 'ISO-8601 UTC'})"
    params = [
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
        inspect.Parameter("gateway", inspect.Parameter.KEYWORD_ONLY, annotation=GatewayDep),
        _param(
            "time_from",
            Optional[time_type],
            Query(alias="from", description=f"From (inclusive) {time_doc}."),
        ),
        _param(
            "time_to",
            Optional[time_type],
            Query(alias="to", description=f"To (exclusive) {time_doc}."),
        ),
    ]
    for name in spec.filters:
        column = spec.column(name)
        item: Any = Literal[column.symbols] if column.symbols else str  # type: ignore[valid-type]
        params.append(
            _param(
                name,
                Optional[list[item]],  # type: ignore[valid-type]
                Query(
                    description=f"Only rows with this {name} (repeat for several).", max_length=100
                ),
            )
        )
    params += [
        _param(
            "sort",
            Optional[Literal[spec.sort_options]],  # type: ignore[valid-type]
            Query(
                description=f"Sort column, `-` for descending; default `{spec.default_sort}`. "
                "Ties are broken by the natural key."
            ),
        ),
        _param(
            "limit", int, Query(ge=1, le=MAX_LIMIT, description="Rows per page."), DEFAULT_LIMIT
        ),
        _param(
            "cursor",
            Optional[str],
            Query(max_length=4096, description="`next_cursor` of the previous page."),
        ),
    ]
    allowed = {*_COMMON, *spec.filters}

    async def endpoint(request: Request, gateway: Any, **kwargs: Any) -> Response:
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            raise Problem(
                400,
                f"unknown parameter {unknown[0]!r}; {spec.name} accepts "
                f"{', '.join(sorted(allowed))}",
                kind="invalid-parameter",
                parameter=unknown[0],
            )
        query = build_query(
            spec,
            time_from=kwargs["time_from"],
            time_to=kwargs["time_to"],
            filters={name: kwargs[name] for name in spec.filters if kwargs.get(name)},
            sort=kwargs["sort"],
            limit=kwargs["limit"],
            cursor=kwargs["cursor"],
        )
        lookup = await gateway.cache.get_or_compute(
            spec.database,
            spec.name,
            query.cache_token(),
            lambda: page_bytes(gateway.db, spec, query),
        )
        alias = request.scope.get(ALIAS_KEY)
        if alias and lookup.key:  # next time, the fast path answers this query string
            await gateway.cache.store(alias, lookup.data, spec.database)
        return Response(
            lookup.data,
            media_type="application/json",
            headers={"X-Cache": lookup.result.upper(), "Cache-Control": "no-cache"},
        )

    endpoint.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    endpoint.__name__ = f"list_{spec.name}"
    return endpoint


def _param(name: str, annotation: Any, query: Any, default: Any = None) -> inspect.Parameter:
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[annotation, query],
        default=default,
    )


def table_info(spec: TableSpec) -> TableInfo:
    return TableInfo(
        name=spec.name,
        database=spec.database,
        description=spec.doc,
        path=table_path(spec),
        primary_key=list(spec.primary_key),
        time_column=spec.time_column,
        filters=list(spec.filters),
        sort_options=list(spec.sort_options),
        default_sort=spec.default_sort,
        access=spec.access,
        schema_version=spec.schema_version,
        columns=[
            {"name": c.name, "kind": c.kind, "nullable": c.nullable, "description": c.doc}
            for c in spec.columns
        ],
    )


def build_router(specs: dict[str, TableSpec]) -> APIRouter:
    router = APIRouter(prefix=PREFIX)

    @router.get("", tags=["catalog"], summary="Every served table", response_model=list[TableInfo])
    async def list_tables(gateway: GatewayDep) -> list[TableInfo]:
        return [table_info(spec) for spec in gateway.specs.values()]

    for spec in specs.values():
        dependencies = [Depends(get_gateway)]
        if spec.access == "ops":
            dependencies.append(Depends(require_role("ops")))
        router.add_api_route(
            f"/{spec.name}",
            _endpoint(spec),
            methods=["GET"],
            summary=f"{spec.name} ({spec.database})",
            description=f"{spec.doc}\n\nNatural key: ({', '.join(spec.primary_key)}). "
            f"Schema: {spec.database}/{spec.name} v{spec.schema_version}.",
            tags=[f"{spec.database}{' (ops)' if spec.access == 'ops' else ''}"],
            response_class=Response,
            responses={
                200: {
                    "description": "One page of rows.",
                    "model": page_model(spec),
                    "headers": {
                        "X-Cache": {
                            "description": "HIT, MISS, COALESCED, ERROR or BYPASS",
                            "schema": {"type": "string"},
                        }
                    },
                },
                **problem_responses(400, 401, 403, 429, 503),
            },
            dependencies=dependencies,
            operation_id=f"list_{spec.name}",
        )
    return router
