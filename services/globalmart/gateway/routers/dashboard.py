"""The live web dashboard (issue #9): `/` and `/dashboard`, plus the pipeline summary it shows.

The page is our own static HTML + JS (`static/dashboard/`, served at `/static/dashboard/`) with
Chart.js bundled from npm (`/static/vendor/charts.js`, see gateway.assets). Its numbers come from
the public REST tables (`/api/v1/<table>`), live updates from the SSE streams
(`/api/v1/live/metrics`, `/api/v1/live/alerts`), component health from `/health` and the stream
queries' health from `/api/v1/pipeline_health` below.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from globalmart.gateway.pipeline import pipeline_health
from globalmart.gateway.problems import problem_responses
from globalmart.gateway.state import GatewayDep
from globalmart.gateway.static_files import static_text

router = APIRouter(tags=["dashboard"])
PAGE = "dashboard/index.html"
REUSE_SECONDS = 2.0
_CACHE_KEY = "pipeline_health"


@dataclass
class _Summary:
    at: float
    body: dict[str, Any]


@router.get("/", response_class=HTMLResponse, summary="The live web dashboard")
async def home() -> HTMLResponse:
    return HTMLResponse(static_text(PAGE), headers={"Cache-Control": "no-cache"})


@router.get("/dashboard", response_class=HTMLResponse, summary="The live web dashboard")
async def dashboard() -> HTMLResponse:
    return HTMLResponse(static_text(PAGE), headers={"Cache-Control": "no-cache"})


@router.get(
    "/api/v1/pipeline_health",
    summary="Stream queries: last commit, recent batches, event-time lag; dead letters",
    description="Per stream query: its newest `stream_batch_ledger` row, batches and rows "
    "committed in the last `recent_minutes`, and from the run-metrics store its latest progress "
    "(watermark, event-time lag in seconds, input rate, rows dropped as late). Also the number of "
    "`dead_letters` of the last hour. No payloads: public, unlike the ops tables.",
    responses=problem_responses(429, 503),
)
async def pipeline(gateway: GatewayDep) -> dict[str, Any]:
    # Every open dashboard asks every few seconds: one summary per REUSE_SECONDS per process.
    cached = gateway.extras.get(_CACHE_KEY)
    now = time.monotonic()
    if isinstance(cached, _Summary) and now - cached.at < REUSE_SECONDS:
        return cached.body
    body = await pipeline_health(gateway.db, gateway.settings)
    gateway.extras[_CACHE_KEY] = _Summary(now, body)
    return body
