"""GraphQL results cached in Redis like REST pages: cache-aside of the response bytes.

Key: the digest of (query, variables, operationName) under the freshness markers of *both*
databases (a query may read real-time and warehouse tables), so a committed stream batch or a
generation bump makes every older result unreachable. Only successful queries are stored: a
response with `errors`, a non-200 status, or an operation that is not a query passes through as
it came. Same single flight and cross-process lock as REST (`ResponseCache.lookup`).
Subscriptions (websocket, or `Accept: multipart/mixed`) and GET requests are not touched.
"""

from __future__ import annotations

import json
import logging
from typing import Any, cast

from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from globalmart.gateway.cache import NotCacheable
from globalmart.gateway.fastpath import RouteLabel

log = logging.getLogger(__name__)

#: bodies above this are not cached (nor buffered twice): no real query is that long
MAX_BODY = 64 * 1024
TABLE_LABEL = "graphql"

_Response = tuple[int, list[tuple[bytes, bytes]], bytes]


class GraphQLCacheMiddleware:
    def __init__(self, app: ASGIApp, gateway: Any, path: str = "/graphql") -> None:
        self.app = app
        self.gateway = gateway
        self.path = path
        self.route = RouteLabel(path)  # the metrics label of answers made here

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        try:
            await self._graphql(scope, receive, send)
        finally:
            # Strawberry's route, mounted under a prefix, has an empty path template: label it.
            if not getattr(scope.get("route"), "path", None):
                scope["route"] = self.route

    async def _graphql(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST" or not self.gateway.cache.enabled:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        body, complete = await _read_body(receive)
        token = _token(body) if complete else None
        if (
            token is None
            or b"multipart" in headers.get(b"accept", b"")
            or not headers.get(b"content-type", b"").startswith(b"application/json")
        ):
            await self.app(scope, _replay(body, receive, complete), send)
            return
        cache = self.gateway.cache

        async def compute() -> bytes:
            status, out_headers, data = await _call(self.app, scope, body)
            if status != 200 or not _is_query(token) or _has_errors(data):
                raise NotCacheable((status, out_headers, data))
            return data

        try:
            key = await cache.graphql_key(token)
        except RedisError as exc:
            log.warning("redis unavailable, GraphQL answered uncached: %s", exc)
            await self.app(scope, _replay(body, receive, complete), send)
            return
        try:
            lookup = await cache.lookup(key, "realtime", TABLE_LABEL, compute)
        except NotCacheable as uncached:
            status, out_headers, data = cast(_Response, uncached.response)
            await _send(send, status, out_headers, data)
            return
        await _send(
            send,
            200,
            [
                (b"content-type", b"application/json"),
                (b"x-cache", lookup.result.upper().encode()),
            ],
            lookup.data,
        )


def _token(body: bytes) -> bytes | None:
    """The canonical text of what decides the result, or None when the body is no GraphQL
    request (the route then answers with its own error)."""
    try:
        request = json.loads(body)
    except ValueError:
        return None
    if not isinstance(request, dict) or not isinstance(request.get("query"), str):
        return None
    variables = request.get("variables") or {}
    name = request.get("operationName")
    if not isinstance(variables, dict) or not (name is None or isinstance(name, str)):
        return None
    return json.dumps(
        {"query": request["query"], "variables": variables, "operationName": name},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()


def _is_query(token: bytes) -> bool:
    request = json.loads(token)
    try:
        document = parse(request["query"])
    except GraphQLError:
        return False
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    name = request["operationName"]
    chosen = [o for o in operations if name is None or (o.name and o.name.value == name)]
    return bool(chosen) and all(o.operation == OperationType.QUERY for o in chosen)


def _has_errors(data: bytes) -> bool:
    try:
        result = json.loads(data)
    except ValueError:
        return True
    return not isinstance(result, dict) or bool(result.get("errors")) or "data" not in result


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The request body, up to MAX_BODY; `complete` is False when it was longer."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
        if size > MAX_BODY:
            return b"".join(chunks), False


def _replay(body: bytes, receive: Receive, complete: bool) -> Receive:
    """A receive that first hands out what was read, then continues with the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": not complete}
        return await receive()

    return replay


async def _call(app: ASGIApp, scope: Scope, body: bytes) -> _Response:
    """Run the GraphQL route on `body` and capture its whole response."""
    status = 500
    headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status = int(message["status"])
            headers = [
                (k, v) for k, v in message.get("headers", []) if k.lower() != b"content-length"
            ]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, headers, b"".join(chunks)


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
