"""/graphql: Strawberry's FastAPI router (POST and GET queries, websocket and multipart
subscriptions) with GraphiQL from our own bundle instead of Strawberry's CDN page."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from strawberry.fastapi import GraphQLRouter

from globalmart.gateway.graphql.schema import Context, build_schema
from globalmart.gateway.state import Gateway
from globalmart.gateway.static_files import static_text


class _Router(GraphQLRouter[Any, Any]):
    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(static_text("graphiql.html"))


def graphql_router(gateway: Gateway) -> GraphQLRouter[Any, Any]:
    schema, types = build_schema(gateway.specs, gateway.config)
    gateway.extras["graphql_schema"] = schema
    gateway.extras["graphql_types"] = types

    async def context() -> Context:
        return Context(gateway, types)

    return _Router(schema, context_getter=context, graphql_ide="graphiql", tags=["graphql"])


def graphiql_router() -> APIRouter:
    router = APIRouter(tags=["graphql"])

    @router.get("/graphiql", response_class=HTMLResponse, summary="GraphiQL (our own bundle)")
    async def graphiql() -> HTMLResponse:
        return HTMLResponse(static_text("graphiql.html"))

    return router
