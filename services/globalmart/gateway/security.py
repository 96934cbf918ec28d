"""API keys for admin and ops endpoints, and per-client rate limits.

Keys travel in the `X-API-Key` header and are compared in constant time. Roles: `ops` (dead
letters, the batch ledger, cache statistics) and `admin` (cache invalidation; an admin key is also
accepted wherever ops is). With no key configured, those endpoints refuse every request.

Rate limit: a token bucket per client address in this process (`rate_limit_per_second`
sustained, `rate_limit_burst` at once); several worker processes each apply it. /metrics and
/health are exempt so monitoring never gets throttled.
"""

from __future__ import annotations

import hmac
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader
from starlette.types import ASGIApp, Receive, Scope, Send

from globalmart.gateway.config import GatewayConfig
from globalmart.gateway.problems import Problem, problem_response

API_KEY_HEADER = "X-API-Key"
_api_key = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="admin or ops key")


def _matches(candidate: str, keys: list[str]) -> bool:
    # Compare against every key (no early exit) so timing says nothing about which one matched.
    found = False
    for key in keys:
        found |= hmac.compare_digest(candidate.encode(), key.encode())
    return found


def require_role(role: str) -> Callable[..., str]:
    """A dependency that lets the request through only with a key of `role` (or admin)."""

    def check(request: Request, key: Annotated[str | None, Depends(_api_key)]) -> str:
        config: GatewayConfig = request.app.state.config
        allowed = list(config.admin_api_keys)
        if role == "ops":
            allowed += config.ops_api_keys
        if not key:
            raise Problem(
                401,
                f"this endpoint needs an {role} API key in {API_KEY_HEADER}",
                kind="unauthorized",
                headers={"WWW-Authenticate": "ApiKey"},
            )
        if not allowed or not _matches(key, allowed):
            raise Problem(403, f"the API key is not an {role} key", kind="forbidden")
        return role

    check.__name__ = f"require_{role}"
    return check


RequireOps = Annotated[str, Depends(require_role("ops"))]
RequireAdmin = Annotated[str, Depends(require_role("admin"))]


class TokenBucket:
    """Per-client buckets, the least recently seen dropped beyond `max_clients`."""

    def __init__(self, rate: float, burst: int, max_clients: int = 10_000) -> None:
        self.rate, self.burst, self.max_clients = rate, float(burst), max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str, now: float | None = None) -> float:
        """0 when allowed; else the seconds until a token is available."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self._buckets[client] = (tokens, now)
        if len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait


EXEMPT = ("/metrics", "/health")


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, config: GatewayConfig) -> None:
        self.app = app
        self.bucket = (
            TokenBucket(config.rate_limit_per_second, config.rate_limit_burst)
            if config.rate_limit_per_second > 0
            else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.bucket is None or scope["type"] != "http" or scope["path"] in EXEMPT:
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        wait = self.bucket.take(client)
        if wait > 0:
            response = problem_response(
                None,
                429,
                f"rate limit exceeded; retry in {wait:.2f}s",
                kind="rate-limited",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
