"""The cached path of REST GETs, answered before FastAPI parses anything.

A page the REST route served is also stored under the digest of its raw query string (an `r`
entry, keyed by the same freshness markers as every entry). A request with that exact query
string is then answered from Redis here: one marker lookup and one GET, the stored bytes sent as
they are, no parameter validation (the string was validated when the entry was made), no
re-serialisation. Anything else (a first request, another spelling of the same query, an
invalid one, an ops table that needs an API key) goes to the route, which validates, answers and
leaves the alias for next time. The outer middlewares (metrics, CORS, rate limit) run as usual.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError
from starlette.types import ASGIApp, Receive, Scope, Send

from globalmart.gateway.cache import count

log = logging.getLogger(__name__)

#: the scope entry by which the fast path asks the route to store the page under its raw key
ALIAS_KEY = "globalmart.alias_key"


@dataclass(frozen=True)
class RouteLabel:
    """Stands in for the matched route in the scope (what `metrics.route_template` reads)
    when a fast path answers before routing."""

    path: str


class CachedGetMiddleware:
    def __init__(self, app: ASGIApp, gateway: Any) -> None:
        self.app = app
        self.gateway = gateway
        #: path -> (spec, metrics label) of every table open without an API key
        self.routes = {
            f"/api/v1/{spec.name}": (spec, RouteLabel(f"/api/v1/{spec.name}"))
            for spec in gateway.specs.values()
            if spec.access != "ops"
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = self.routes.get(scope["path"]) if scope["type"] == "http" else None
        cache = self.gateway.cache
        if target is None or scope["method"] != "GET" or not cache.enabled:
            await self.app(scope, receive, send)
            return
        spec, route = target
        try:
            key = await cache.raw_key(spec.database, spec.name, scope["query_string"])
            data = await cache.redis.get(key)
        except RedisError as exc:  # the route answers (and counts) without Redis
            log.debug("fast path skipped: %s", exc)
            await self.app(scope, receive, send)
            return
        if data is None:
            scope[ALIAS_KEY] = key
            await self.app(scope, receive, send)
            return
        scope["route"] = route  # per-route metrics label, as if routing had run
        count(spec.name, "hit")
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                    (b"x-cache", b"HIT"),
                    (b"cache-control", b"no-cache"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": bytes(data)})
