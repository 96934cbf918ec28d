"""Liveness and readiness: `/health` answers whether the gateway's dependencies respond."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from psycopg import sql

from globalmart.gateway.db import DATABASES
from globalmart.gateway.state import GatewayDep

router = APIRouter(tags=["health"])


@router.get("/health", summary="Status of the gateway and its databases and cache")
async def health(gateway: GatewayDep) -> JSONResponse:
    checks: dict[str, Any] = {}

    async def database(name: str) -> None:
        try:
            rows = await asyncio.wait_for(
                gateway.db.fetch(name, sql.SQL("SELECT current_user")), timeout=3
            )
            checks[f"postgres_{name}"] = {"ok": True, "role": rows[0][0]}
        except Exception as exc:
            checks[f"postgres_{name}"] = {"ok": False, "error": str(exc)[:200]}

    async def redis() -> None:
        try:
            await asyncio.wait_for(gateway.redis.ping(), timeout=2)
            checks["redis"] = {"ok": True}
        except Exception as exc:
            checks["redis"] = {"ok": False, "error": str(exc)[:200]}

    await asyncio.gather(*(database(n) for n in DATABASES), redis())
    # The cache is optional (requests fall back to PostgreSQL): only databases decide readiness.
    ready = all(checks[f"postgres_{n}"]["ok"] for n in DATABASES)
    return JSONResponse(
        {"status": "ok" if ready else "degraded", "checks": checks},
        status_code=200 if ready else 503,
    )
