"""Server-Sent Events: `/api/v1/live/alerts` and `/api/v1/live/metrics` (see gateway.live).

Each event is `event: alert|metric`, `data: {"type", "table", "data": row}` with the row in the REST
format. A comment line every `HEARTBEAT` seconds keeps proxies from closing an idle stream.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Optional

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from globalmart.gateway.problems import Problem, problem_responses
from globalmart.gateway.state import GatewayDep

HEARTBEAT = 15.0
router = APIRouter(prefix="/api/v1/live", tags=["live"])


def sse(event: dict[str, Any]) -> bytes:
    data = json.dumps(event, separators=(",", ":"))
    return f"event: {event['type']}\ndata: {data}\n\n".encode()


async def _stream(request: Request, events: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    yield b": connected\n\n"
    try:
        async for event in events:
            if event["type"] != "heartbeat":
                yield sse(event)
                continue
            yield b": heartbeat\n\n"
            if await request.is_disconnected():
                break
    finally:
        await events.aclose()  # type: ignore[attr-defined]


_RESPONSES = {
    200: {"description": "An event stream.", "content": {"text/event-stream": {}}},
    **problem_responses(400, 429),
}


@router.get("/alerts", summary="New alerts as they are raised (SSE)", responses=_RESPONSES)
async def live_alerts(
    request: Request,
    gateway: GatewayDep,
    since: Annotated[
        Optional[datetime], Query(description="Also send the alerts raised since this time.")
    ] = None,
) -> StreamingResponse:
    if since is not None and since.tzinfo is None:
        raise Problem(400, "since needs a UTC offset", kind="invalid-parameter", parameter="since")
    events = gateway.live.subscribe("alerts", since=since, heartbeat=HEARTBEAT)
    return StreamingResponse(
        _stream(request, events),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/metrics", summary="The latest metric windows as they change (SSE)", responses=_RESPONSES
)
async def live_metrics(request: Request, gateway: GatewayDep) -> StreamingResponse:
    events = gateway.live.subscribe("metrics", heartbeat=HEARTBEAT)
    return StreamingResponse(
        _stream(request, events),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
