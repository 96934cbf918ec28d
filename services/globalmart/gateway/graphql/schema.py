"""The GraphQL schema: a query field per public table, relations through DataLoaders, and
subscriptions for live alerts and the latest metric windows.

Query fields take the same arguments as REST (`from`, `to`, the table's filters, `sort`) with
`first` and `after` for keyset pages, and run the same validated, psycopg.sql-composed query
(globalmart.gateway.query). Bad arguments are GraphQL errors with code BAD_USER_INPUT.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Optional

import strawberry
from graphql import GraphQLError
from strawberry.dataloader import DataLoader
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)
from strawberry.fastapi import BaseContext
from strawberry.schema.config import StrawberryConfig

from globalmart.gateway.config import GatewayConfig
from globalmart.gateway.encode import decode_row, row_encoder
from globalmart.gateway.graphql.limits import DEFAULT_FIRST, cost_rule
from globalmart.gateway.graphql.scalars import SCALAR_MAP
from globalmart.gateway.graphql.types import TableTypes, build_types
from globalmart.gateway.live import ALERTS, METRIC_TABLES
from globalmart.gateway.query import (
    BadQuery,
    build_query,
    encode_cursor,
    latest_by_key_sql,
    select_sql,
)
from globalmart.gateway.tables import DATE, TableSpec

if TYPE_CHECKING:
    from globalmart.gateway.state import Gateway


class Context(BaseContext):
    """Per request: the gateway and this request's DataLoaders (batching is per request)."""

    def __init__(self, gateway: Gateway, types: dict[str, TableTypes]) -> None:
        super().__init__()
        self.gateway = gateway
        self.types = types
        self._loaders: dict[tuple[str, str], DataLoader[str, Any]] = {}

    def loader(self, target: str, key: str) -> DataLoader[str, Any]:
        found = self._loaders.get((target, key))
        if found is None:
            found = self._loaders[(target, key)] = DataLoader(load_fn=self._batch(target, key))
        return found

    def _batch(self, target: str, key: str) -> Any:
        spec = self.types[target].spec
        build = self.types[target].build
        position = spec.column_names.index(key)

        async def load(keys: list[str]) -> list[Any]:
            rows = await self.gateway.db.fetch(
                spec.database, latest_by_key_sql(spec, key), [list(keys)]
            )
            by_key = {row[position]: build(row) for row in rows}
            return [by_key.get(k) for k in keys]

        return load


def _relation_field(key: str, target: str, target_row: type) -> Any:
    async def resolve(root: Any, info: strawberry.Info) -> Any:
        value = getattr(root, key, None)
        if value is None:
            return None
        return await info.context.loader(target, key).load(value)

    resolve.__annotations__ = {"info": strawberry.Info, "return": Optional[target_row]}
    return strawberry.field(
        resolver=resolve, description=f"The newest {target} row with this {key} (batched)."
    )


def _bad_input(exc: BadQuery) -> GraphQLError:
    return GraphQLError(
        f"{exc.parameter}: {exc.detail}",
        extensions={"code": "BAD_USER_INPUT", "parameter": exc.parameter},
    )


def _table_field(types: TableTypes) -> Any:
    spec: TableSpec = types.spec
    time_type: Any = date if spec.column(spec.time_column).kind == DATE else datetime
    encode = row_encoder(spec)
    kw = inspect.Parameter.KEYWORD_ONLY
    params = [
        inspect.Parameter(
            "info", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=strawberry.Info
        ),
        inspect.Parameter(
            "from_",
            kw,
            default=None,
            annotation=Annotated[
                Optional[time_type],
                strawberry.argument(
                    name="from", description=f"From {spec.time_column} (inclusive)."
                ),
            ],
        ),
        inspect.Parameter(
            "to",
            kw,
            default=None,
            annotation=Annotated[
                Optional[time_type],
                strawberry.argument(description=f"To {spec.time_column} (exclusive)."),
            ],
        ),
    ]
    for name in spec.filters:
        params.append(
            inspect.Parameter(
                name,
                kw,
                default=None,
                annotation=Annotated[
                    Optional[list[str]],
                    strawberry.argument(description=f"Only these {name} values."),
                ],
            )
        )
    params += [
        inspect.Parameter(
            "sort",
            kw,
            default=None,
            annotation=Annotated[
                Optional[str],
                strawberry.argument(
                    description=f"One of {', '.join(spec.sort_options)}; "
                    f"default {spec.default_sort}."
                ),
            ],
        ),
        inspect.Parameter(
            "first",
            kw,
            default=DEFAULT_FIRST,
            annotation=Annotated[int, strawberry.argument(description="Page size, 1 to 1000.")],
        ),
        inspect.Parameter(
            "after",
            kw,
            default=None,
            annotation=Annotated[
                Optional[str], strawberry.argument(description="next_cursor of the previous page.")
            ],
        ),
    ]

    async def resolve(info: strawberry.Info, **kwargs: Any) -> Any:
        try:
            query = build_query(
                spec,
                time_from=kwargs.get("from_"),
                time_to=kwargs.get("to"),
                filters={n: kwargs[n] for n in spec.filters if kwargs.get(n)},
                sort=kwargs.get("sort"),
                limit=kwargs.get("first"),
                cursor=kwargs.get("after"),
            )
        except BadQuery as exc:
            raise _bad_input(exc) from None
        statement, values = select_sql(spec, query)
        rows = await info.context.gateway.db.fetch(spec.database, statement, values)
        page = rows[: query.limit]
        cursor = (
            encode_cursor(spec, query, encode(page[-1]))
            if len(rows) > query.limit and page
            else None
        )
        return types.page(items=[types.build(r) for r in page], next_cursor=cursor)

    resolve.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        params, return_annotation=types.page
    )
    resolve.__annotations__ = {p.name: p.annotation for p in params} | {"return": types.page}
    return strawberry.field(resolver=resolve, description=spec.doc)


def _subscription_field(types: TableTypes, topic: str, with_since: bool) -> Any:
    spec = types.spec

    async def resolve(info: strawberry.Info, since: Optional[datetime] = None) -> Any:
        live = info.context.gateway.live
        events = live.subscribe(topic, since=since) if with_since else live.subscribe(topic)
        try:
            async for event in events:
                if event["table"] == spec.name:
                    yield types.build(decode_row(spec, event["data"]))
        finally:
            await events.aclose()

    returns = AsyncGenerator[types.row, None]  # type: ignore[name-defined]
    params = [
        inspect.Parameter(
            "info", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=strawberry.Info
        )
    ]
    if with_since:
        since = Annotated[
            Optional[datetime], strawberry.argument(description="Also send alerts since then.")
        ]
        params.append(
            inspect.Parameter(
                "since", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=since
            )
        )
    resolve.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        params, return_annotation=returns
    )
    resolve.__annotations__ = {p.name: p.annotation for p in params} | {"return": returns}
    what = "New alerts as they are raised" if with_since else f"The newest {spec.name} window"
    return strawberry.subscription(resolver=resolve, description=f"{what} (live).")


def build_schema(
    specs: dict[str, TableSpec], config: GatewayConfig
) -> tuple[strawberry.Schema, dict[str, TableTypes]]:
    types = build_types(specs, _relation_field)
    query_fields = {name: _table_field(t) for name, t in sorted(types.items())}
    Query = strawberry.type(
        type("Query", (), {"__annotations__": {}, **query_fields}),
        description="Every public table, newest first by default.",
    )
    subscription_fields = {ALERTS: _subscription_field(types[ALERTS], "alerts", True)}
    for table in METRIC_TABLES:
        subscription_fields[table] = _subscription_field(types[table], "metrics", False)
    Subscription = strawberry.type(
        type("Subscription", (), {"__annotations__": {}, **subscription_fields})
    )
    cost = cost_rule(config.graphql_max_cost)
    schema = strawberry.Schema(
        query=Query,
        subscription=Subscription,
        config=StrawberryConfig(auto_camel_case=False, scalar_map=SCALAR_MAP),
        # Factories: Strawberry builds fresh extension instances per request.
        extensions=[
            lambda: QueryDepthLimiter(max_depth=config.graphql_max_depth),
            lambda: MaxTokensLimiter(max_token_count=config.graphql_max_tokens),
            lambda: MaxAliasesLimiter(max_alias_count=config.graphql_max_aliases),
            lambda: AddValidationRules([cost]),
        ],
    )
    return schema, types
