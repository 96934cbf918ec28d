"""Ops and admin endpoints (API keys): cache statistics and invalidation, run metrics.

The ops tables themselves (`dead_letters`, `stream_batch_ledger`) are ordinary table routes that
require an ops key (see routers.tables).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from pymongo.errors import PyMongoError

from globalmart.core.runlog import COLLECTIONS, RunLog
from globalmart.gateway.cache import CACHE_REQUESTS, _totals
from globalmart.gateway.freshness import bump_generation, generation_key
from globalmart.gateway.problems import problem_responses
from globalmart.gateway.security import RequireAdmin, RequireOps
from globalmart.gateway.state import GatewayDep

router = APIRouter(prefix="/api/v1", responses=problem_responses(401, 403, 429, 503))


@router.get("/ops/cache", tags=["ops"], summary="Cache hit ratio and freshness markers")
async def cache_stats(gateway: GatewayDep, _role: RequireOps) -> dict[str, Any]:
    hits, misses = _totals["hit"], _totals["miss"]
    per_table: dict[str, dict[str, float]] = {}
    for metric in CACHE_REQUESTS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                row = per_table.setdefault(sample.labels["table"], {})
                row[sample.labels["result"]] = sample.value
    generations = {
        db: int(await gateway.redis.get(generation_key(gateway.config.cache_prefix, db)) or 0)
        for db in ("realtime", "warehouse")
    }
    return {
        "enabled": gateway.config.cache_enabled,
        "hits": hits,
        "misses": misses,
        "hit_ratio": hits / (hits + misses) if hits + misses else 0.0,
        "ledger_marker": await gateway.cache.marker.read(),
        "generations": generations,
        "by_table": per_table,
    }


@router.post(
    "/admin/cache/invalidate",
    tags=["admin"],
    summary="Make every cached response of a database unreachable",
)
async def invalidate(
    gateway: GatewayDep,
    _role: RequireAdmin,
    database: Annotated[Literal["realtime", "warehouse"], Query()] = "realtime",
) -> dict[str, Any]:
    generation = await bump_generation(gateway.redis, database, gateway.config.cache_prefix)
    return {"database": database, "generation": generation}


RunKind = Literal["generator_runs", "stream_progress", "batch_runs", "alert_deliveries"]


@router.get(
    "/ops/runs/{collection}",
    tags=["ops"],
    summary="Latest run documents from the metrics store (generator runs, stream progress, ...)",
)
async def runs(
    gateway: GatewayDep,
    _role: RequireOps,
    collection: RunKind,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    assert collection in COLLECTIONS  # the Literal above is the same list

    def latest() -> list[dict[str, Any]]:
        with RunLog(gateway.settings) as log:
            return log.latest(collection, limit)

    try:
        documents = await run_in_threadpool(latest)
    except PyMongoError as error:
        raise HTTPException(503, f"the run metrics store is unavailable: {error}") from None
    return {"collection": collection, "count": len(documents), "data": documents}
