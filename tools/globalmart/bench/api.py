"""`bench api [--json]`: latency and throughput of cached gateway GETs, next to a bare Redis GET.

The gateway runs in its own processes (uvicorn, rate limit off), started once per configuration:

- `strict`: the defaults, one worker: every request reads the freshness markers (one PostgreSQL
  round trip per request, also on a hit), so a committed batch shows on the very next request;
- `window`: the markers reused for `WINDOW_MS` (a commit shows within that), one worker: a hit
  is one Redis GET;
- `window x2`: the same with two uvicorn workers (for more cores: on 2 cores shared with the load
  generator, the second worker mostly competes with it, and its p99 is the worse one).

For each, one REST page is requested once to fill the cache, and `WARMUP` seconds of the same
paced load warm the worker (not counted), then:

1. paced load, open loop: request k is sent at start + k/`TARGET_RPS` whatever happened to the
   earlier ones (on an idle keep-alive connection, or a new one when all are busy), and its
   latency counts from that scheduled time, so a stalled server cannot hide its queue (no
   coordinated omission). p50/p99, achieved rate, and the CPU the gateway and the load generator
   used per request;
2. saturation: `CONCURRENCY` connections in a closed loop for a few seconds, requests/s.

Then the floor: the same cached bytes fetched with a bare redis-py GET, p50/p99 and ops/s.

The load generator speaks HTTP/1.1 on asyncio streams, on uvloop like the server (status line,
headers, Content-Length body, checked on every response). httpx costs ~2 ms of CPU per request
on this machine: at 500/s the old client needed a core of its own on a 2-core machine shared
with the server, which is why it reached ~81 requests/s.

Target: cached p99 under 10 ms at 500 requests/s.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import psutil
import psycopg
import redis
import uvloop
from psycopg import sql

from globalmart.core.ports import free_port
from globalmart.core.settings import Settings
from globalmart.gateway.server import APP, HTTP, LOOP
from globalmart.gateway.tables import table_specs
from globalmart.gateway.testing import random_past_minute, sample_row, seeded

TARGET_RPS = 500
DURATION = 10.0
WARMUP = 2.0
SATURATION_SECONDS = 3.0
CONCURRENCY = 16
#: the paced client opens connections up to this; beyond, requests wait (and that wait counts)
MAX_CONNECTIONS = 64
REDIS_SAMPLES = 5000
TARGET_P99_MS = 10.0
WINDOW_MS = 50
TABLE = "sales_per_minute"
PAGE_ROWS = 50
PATH = f"/api/v1/{TABLE}?limit={PAGE_ROWS}"


@dataclass(frozen=True)
class GatewaySetup:
    label: str
    workers: int = 1
    freshness_window_ms: int = 0
    env: dict[str, str] = field(default_factory=dict)


SETUPS = (
    GatewaySetup("strict"),
    GatewaySetup("window", 1, WINDOW_MS),
    GatewaySetup("window x2", 2, WINDOW_MS),
)
#: the configuration whose figures are the headline (`cached_get`, `max_rps`): a cache hit is
#: one Redis GET, and one worker fits a 2-core machine that also runs the load generator
HEADLINE = "window"


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _start_gateway(port: int, setup: GatewaySetup) -> subprocess.Popen[bytes]:
    # A real import (not only uvicorn's string) so the build packs the gateway with the CLI.
    import globalmart.gateway.app  # noqa: F401

    env = dict(
        os.environ,
        GATEWAY_RATE_LIMIT_PER_SECOND="0",
        GATEWAY_CACHE_FRESHNESS_WINDOW_MS=str(setup.freshness_window_ms),
        API_PORT=str(port),
        # the gateway imports exactly what this process can (source roots, venv or PEX chroot)
        PYTHONPATH=os.pathsep.join(p for p in sys.path if p),
        **setup.env,
    )
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        APP,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(setup.workers),
        # generous under load: a slow health check must not get a worker restarted mid-run
        "--timeout-worker-healthcheck",
        "30",
        "--timeout-keep-alive",
        "30",
        "--log-level",
        "warning",
        "--no-access-log",
        # what `serve` runs: libuv's loop and the C HTTP parser (see globalmart.gateway.server)
        "--loop",
        LOOP,
        "--http",
        HTTP,
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the gateway exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    _stop(process)
    raise RuntimeError("the gateway did not become healthy within 90 s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _cpu_seconds(pid: int) -> float:
    """CPU time of the gateway: the uvicorn process and its workers."""
    try:
        root = psutil.Process(pid)
        total = 0.0
        for p in [root, *root.children(recursive=True)]:
            times = p.cpu_times()
            total += times.user + times.system
        return total
    except psutil.Error:
        return float("nan")


class BadResponse(RuntimeError):
    pass


class Connection:
    """One keep-alive HTTP/1.1 connection: send a GET, read one response."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def get(self, request: bytes) -> tuple[int, bool, int]:
        """-> (status, whether X-Cache was HIT, body bytes)."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise BadResponse(f"not an HTTP/1.x status line: {lines[0]!r}")
        length, hit = -1, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"x-cache":
                hit = value.strip() == b"HIT"
        if length < 0:
            raise BadResponse("response without Content-Length")
        await self.reader.readexactly(length)
        return int(parts[1]), hit, length

    def close(self) -> None:
        self.writer.close()


def _request(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n".encode()


async def _paced(port: int, rate: int, duration: float) -> dict[str, Any]:
    """Open loop: request k is due at start + k/rate; it goes out on an idle connection or a
    new one (up to MAX_CONNECTIONS), never waiting for an earlier request to finish."""
    request = _request(PATH)
    idle: deque[Connection] = deque([await Connection.open(port) for _ in range(CONCURRENCY)])
    free = asyncio.Semaphore(MAX_CONNECTIONS)
    opened = len(idle)
    latencies: list[float] = []
    errors = hits = 0
    total = int(rate * duration)

    async def one(scheduled: float) -> None:
        nonlocal errors, hits, opened
        async with free:
            try:
                if idle:
                    conn = idle.popleft()  # oldest first: every connection stays in use
                else:
                    conn = await Connection.open(port)
                    opened += 1
                status, hit, size = await conn.get(request)
                idle.append(conn)
                ok = status == 200 and size > 0
            except (OSError, asyncio.IncompleteReadError, BadResponse, ValueError):
                ok = hit = False
        latencies.append((time.perf_counter() - scheduled) * 1000)
        errors += not ok
        hits += ok and hit

    tasks = []
    cpu0 = time.process_time()
    start = time.perf_counter() + 0.05
    for k in range(total):
        scheduled = start + k / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    client_cpu = time.process_time() - cpu0
    for conn in idle:
        conn.close()
    return {
        "requests": len(latencies),
        "errors": errors,
        "achieved_rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(_percentile(latencies, 0.50), 3),
        "p99_ms": round(_percentile(latencies, 0.99), 3),
        "max_ms": round(max(latencies), 3),
        "hit_ratio": round(hits / max(1, len(latencies) - errors), 4),
        "connections": opened,
        "client_cpu_ms_per_request": round(client_cpu * 1000 / max(1, len(latencies)), 3),
    }


async def _saturate(port: int, seconds: float, concurrency: int) -> float:
    request = _request(PATH)
    done = 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        conn = await Connection.open(port)
        try:
            while time.perf_counter() < stop:
                status, _, _ = await conn.get(request)
                done += status == 200
        finally:
            conn.close()

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


def _bench_setup(setup: GatewaySetup) -> tuple[dict[str, Any], bytes]:
    port = free_port()
    process = _start_gateway(port, setup)
    try:
        warm = httpx.get(f"http://127.0.0.1:{port}{PATH}", timeout=10)
        warm.raise_for_status()
        # warm-up at the same pace, not counted: the first requests of a fresh worker pay for
        # pool connections and first-call code paths (one 100 ms stall is 1% of the samples)
        uvloop.run(_paced(port, TARGET_RPS, WARMUP))
        cpu0 = _cpu_seconds(process.pid)
        paced = uvloop.run(_paced(port, TARGET_RPS, DURATION))
        paced["server_cpu_ms_per_request"] = round(
            (_cpu_seconds(process.pid) - cpu0) * 1000 / max(1, paced["requests"]), 3
        )
        max_rps = uvloop.run(_saturate(port, SATURATION_SECONDS, CONCURRENCY))
    finally:
        _stop(process)
    run = {
        "setup": setup.label,
        "workers": setup.workers,
        "freshness_window_ms": setup.freshness_window_ms,
        "cached_get": paced,
        "max_rps": max_rps,
        "target_met": _met(paced),
    }
    return run, warm.content


def _met(paced: dict[str, Any]) -> bool:
    return bool(
        paced["p99_ms"] < TARGET_P99_MS
        and paced["achieved_rps"] >= TARGET_RPS * 0.95
        and paced["errors"] == 0
    )


@contextmanager
def _full_page(settings: Settings) -> Iterator[int]:
    """Make PATH's page a full one (PAGE_ROWS rows) so the cached bytes are a real page, not an
    empty list on a fresh stack: seed the missing rows far in the past, delete them after."""
    spec = table_specs()[TABLE]
    with psycopg.connect(settings.postgres_dsn(spec.database), connect_timeout=10) as conn:
        # bounded: only whether the page is full matters, not the size of a live table
        count = sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} LIMIT {}) AS page").format(
            sql.Identifier(TABLE), sql.Literal(PAGE_ROWS)
        )
        present = int(conn.execute(count).fetchone()[0])  # type: ignore[index]
    start = random_past_minute()
    missing = max(0, PAGE_ROWS - present)
    rows = [sample_row(spec, start + timedelta(minutes=n), n) for n in range(missing)]
    with seeded(settings, spec, rows):
        yield len(rows)


def run_api_bench(settings: Settings, as_json: bool) -> dict[str, Any]:
    """Run the benchmark against the local stack; print and return the figures."""
    load_before = os.getloadavg()
    runs, body = [], b""
    with _full_page(settings) as seeded_rows:
        for setup in SETUPS:
            run, body = _bench_setup(setup)
            runs.append(run)
    floor = _redis_floor(settings, body)
    headline = next(r for r in runs if r["setup"] == HEADLINE)
    result = {
        "path": PATH,
        "page_bytes": len(body),
        "seeded_rows": seeded_rows,
        "target_rps": TARGET_RPS,
        "duration_s": DURATION,
        "warmup_s": WARMUP,
        "headline_setup": HEADLINE,
        "cached_get": headline["cached_get"],
        "max_rps": headline["max_rps"],
        "max_rps_concurrency": CONCURRENCY,
        "runs": runs,
        "redis_get": floor,
        "target_p99_ms": TARGET_P99_MS,
        "target_met": headline["target_met"],
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "cores": os.cpu_count(),
    }
    if not as_json:  # with --json the CLI prints the figures
        _print_table(result)
    return result


def _print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    floor = result["redis_get"]
    table = Table(
        title=f"bench api: cached GET {result['path']}, paced at {result['target_rps']}/s"
    )
    for column in ("measure", "p50 ms", "p99 ms", "rate /s", "CPU ms/req", "notes"):
        table.add_column(column)
    for run in result["runs"]:
        paced = run["cached_get"]
        table.add_row(
            f"gateway {run['setup']} ({run['workers']} worker"
            f"{'s' if run['workers'] > 1 else ''}, window {run['freshness_window_ms']} ms)",
            f"{paced['p50_ms']:.2f}",
            f"{paced['p99_ms']:.2f}",
            f"{paced['achieved_rps']}",
            f"{paced['server_cpu_ms_per_request']:.2f}",
            f"{paced['errors']} errors, hit ratio {paced['hit_ratio']}, "
            f"saturation {run['max_rps']}/s ({result['max_rps_concurrency']} connections), "
            f"target {'met' if run['target_met'] else 'missed'}",
        )
    table.add_row(
        "bare redis-py GET",
        f"{floor['p50_ms']:.3f}",
        f"{floor['p99_ms']:.3f}",
        f"{floor['ops_per_s']}",
        "",
        f"same {floor['value_bytes']} bytes, one connection",
    )
    console = Console()
    console.print(table)
    verdict = "[green]met[/green]" if result["target_met"] else "[red]missed[/red]"
    load = result["load_average"]
    console.print(
        f"target p99 < {result['target_p99_ms']} ms at {result['target_rps']}/s "
        f"({result['headline_setup']}): {verdict}; load average {load['before'][0]:.1f} before, "
        f"{load['after'][0]:.1f} after, {result['cores']} cores"
    )


if __name__ == "__main__":
    from globalmart.core.settings import get_settings

    as_json = "--json" in sys.argv
    figures = run_api_bench(get_settings(), as_json)
    if as_json:
        print(json.dumps(figures, indent=2))
