"""`bench api [--json]`: latency and throughput of cached gateway GETs, next to a bare Redis GET.

The gateway runs in its own process (uvicorn, one worker, rate limit off) so the load generator
does not share its interpreter. One REST page is requested once to fill the cache, then:

1. paced load: `TARGET_RPS` requests/s for `DURATION` seconds, open loop (each request has a
   scheduled start; latency is counted from that schedule, so a stalled server cannot hide its
   queueing: no coordinated omission), p50/p99 and the achieved rate;
2. saturation: `CONCURRENCY` clients in a closed loop for a few seconds, requests/s;
3. the floor: the same cached bytes fetched with a bare redis-py GET, p50/p99 and ops/s.

Target: cached p99 under 10 ms at 500 requests/s.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

import httpx
import redis

from globalmart.core.settings import Settings

TARGET_RPS = 500
DURATION = 10.0
SATURATION_SECONDS = 4.0
CONCURRENCY = 16
REDIS_SAMPLES = 5000
TARGET_P99_MS = 10.0
PATH = "/api/v1/sales_per_minute?limit=50"


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_gateway(port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, GATEWAY_RATE_LIMIT_PER_SECOND="0", API_PORT=str(port))
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "globalmart.gateway.app:app_factory",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the gateway exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.terminate()
    raise RuntimeError("the gateway did not become healthy within 60 s")


async def _paced(
    base: str, rate: int, duration: float, workers: int = CONCURRENCY
) -> dict[str, Any]:
    """Request k is due at start + k/rate; worker w sends requests w, w+workers, ... on its own
    keep-alive connection (a few long-lived clients, like a dashboard fleet behind a proxy)."""
    latencies: list[float] = []
    errors = hits = 0
    total = int(rate * duration)
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10) as client:
        await asyncio.gather(*(client.get(PATH) for _ in range(workers)))  # open connections
        start = time.perf_counter() + 0.05

        async def worker(first: int) -> None:
            nonlocal errors, hits
            for i in range(first, total, workers):
                scheduled = start + i / rate
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                try:
                    response = await client.get(PATH)
                    ok = response.status_code == 200
                    hit = response.headers.get("X-Cache") == "HIT"
                except httpx.HTTPError:
                    ok = hit = False
                latencies.append((time.perf_counter() - scheduled) * 1000)
                errors += not ok
                hits += ok and hit

        await asyncio.gather(*(worker(w) for w in range(workers)))
        elapsed = time.perf_counter() - start
    return {
        "requests": len(latencies),
        "errors": errors,
        "achieved_rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(_percentile(latencies, 0.50), 3),
        "p99_ms": round(_percentile(latencies, 0.99), 3),
        "max_ms": round(max(latencies), 3),
        "hit_ratio": round(hits / max(1, len(latencies) - errors), 4),
    }


async def _saturate(base: str, seconds: float, concurrency: int) -> float:
    done = 0
    stop = time.perf_counter() + seconds
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < stop:
                response = await client.get(PATH)
                if response.status_code == 200:
                    done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return round(done / (time.perf_counter() - started), 1)


def _redis_floor(settings: Settings, value: bytes) -> dict[str, Any]:
    client = redis.Redis(host=settings.redis_host, port=settings.redis_port)
    key = f"gm:bench:{os.getpid()}"
    client.set(key, value, ex=60)
    latencies = []
    started = time.perf_counter()
    for _ in range(REDIS_SAMPLES):
        t0 = time.perf_counter()
        client.get(key)
        latencies.append((time.perf_counter() - t0) * 1000)
    elapsed = time.perf_counter() - started
    client.delete(key)
    client.close()
    return {
        "p50_ms": round(_percentile(latencies, 0.50), 3),
        "p99_ms": round(_percentile(latencies, 0.99), 3),
        "ops_per_s": round(REDIS_SAMPLES / elapsed, 1),
        "value_bytes": len(value),
    }


def run_api_bench(settings: Settings, as_json: bool) -> dict[str, Any]:
    """Run the benchmark against the local stack; print and return the figures."""
    port = _free_port()
    process = _start_gateway(port)
    base = f"http://127.0.0.1:{port}"
    try:
        warm = httpx.get(f"{base}{PATH}", timeout=10)
        warm.raise_for_status()
        paced = asyncio.run(_paced(base, TARGET_RPS, DURATION))
        max_rps = asyncio.run(_saturate(base, SATURATION_SECONDS, CONCURRENCY))
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
    floor = _redis_floor(settings, warm.content)
    result = {
        "path": PATH,
        "target_rps": TARGET_RPS,
        "duration_s": DURATION,
        "cached_get": paced,
        "max_rps": max_rps,
        "max_rps_concurrency": CONCURRENCY,
        "redis_get": floor,
        "target_p99_ms": TARGET_P99_MS,
        "target_met": paced["p99_ms"] < TARGET_P99_MS
        and paced["achieved_rps"] >= TARGET_RPS * 0.95
        and paced["errors"] == 0,
    }
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        _print_table(result)
    return result


def _print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    paced, floor = result["cached_get"], result["redis_get"]
    table = Table(title=f"bench api: cached GET {result['path']}")
    for column in ("measure", "p50 ms", "p99 ms", "rate /s", "notes"):
        table.add_column(column)
    table.add_row(
        f"gateway, paced at {result['target_rps']}/s",
        f"{paced['p50_ms']:.2f}",
        f"{paced['p99_ms']:.2f}",
        f"{paced['achieved_rps']}",
        f"{paced['requests']} requests, {paced['errors']} errors, hit ratio {paced['hit_ratio']}",
    )
    table.add_row(
        f"gateway, {result['max_rps_concurrency']} clients flat out",
        "",
        "",
        f"{result['max_rps']}",
        "saturation throughput",
    )
    table.add_row(
        "bare redis-py GET",
        f"{floor['p50_ms']:.3f}",
        f"{floor['p99_ms']:.3f}",
        f"{floor['ops_per_s']}",
        f"same {floor['value_bytes']} bytes, one connection",
    )
    console = Console()
    console.print(table)
    verdict = "[green]met[/green]" if result["target_met"] else "[red]missed[/red]"
    console.print(
        f"target p99 < {result['target_p99_ms']} ms at {result['target_rps']}/s: {verdict}"
    )


if __name__ == "__main__":
    from globalmart.core.settings import get_settings

    run_api_bench(get_settings(), as_json="--json" in sys.argv)
