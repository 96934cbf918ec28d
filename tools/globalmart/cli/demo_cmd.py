"""`globalmart demo`: the whole pipeline on the local stack, with a live summary.

It provisions and starts the stack (schemas registered, tables created from them), then runs the
stream jobs, the generators, the nightly batch scheduler and the gateway as child processes,
prints where to look, and refreshes a summary (events/s into Kafka, consumer lag, rows per table,
alerts) until Ctrl-C or --duration. Everything it started is stopped on the way out. With
--duration it ends by itself, runs the batch for today once (so the warehouse has data) and
prints a final summary, so it can be scripted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Optional

import psycopg
import typer
from confluent_kafka import Consumer
from psycopg import sql
from rich.live import Live
from rich.table import Table

from globalmart.cli.console import console, err_console, progress
from globalmart.core import offsets
from globalmart.core.settings import Settings, get_settings
from globalmart.schemas.catalog import load_catalog
from globalmart.stack import stack
from globalmart.stack.base import StackError

app = typer.Typer(help="Run the whole pipeline on the local stack with a live summary.")

EVENT_TOPICS = ("transactions-topic", "cart-events-topic", "product-views-topic")
_CLI = [sys.executable, "-m", "globalmart.cli.main"]


@dataclass
class Child:
    """A pipeline process the demo started (its own process group, its own log)."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> None:
        if not self.alive():
            return
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def _interrupt_when_parent_dies() -> None:
    """In the child: SIGINT (a graceful stop) once the demo process is gone, even if it was
    killed, so a killed demo leaves no generator or gateway behind (Linux prctl)."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGINT)


@dataclass
class Snapshot:
    at: float
    offsets: dict[str, int]
    rows: dict[str, int]
    alerts: int


@dataclass
class Demo:
    settings: Settings
    logs: Path
    children: list[Child] = field(default_factory=list)

    def spawn(self, name: str, argv: list[str]) -> Child:
        log = self.logs / f"demo-{name}.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(  # noqa: S603 - our own CLI
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_interrupt_when_parent_dies,
            )
        child = Child(name, proc, log)
        self.children.append(child)
        progress(f"demo: {name} started (pid {proc.pid}, log {log})")
        return child

    def stop_all(self) -> None:
        for child in reversed(self.children):
            progress(f"demo: stopping {child.name}")
            child.stop()
        subprocess.run([*_CLI, "stream", "stop"], check=False)  # noqa: S603


def end_offsets(settings: Settings, consumer: Consumer) -> dict[str, int]:
    """The sum of the high watermarks of each event topic."""
    return offsets.high_watermarks(consumer, EVENT_TOPICS)


def processed_offsets(settings: Settings) -> dict[str, int] | None:
    """What the stream jobs have committed, per topic (the least advanced query reading it),
    from the driver's status file."""
    from globalmart.stream.registry_jobs import all_jobs

    status_file = settings.globalmart_state_dir / "run" / "stream-status.json"
    try:
        queries = json.loads(status_file.read_text()).get("queries", {})
    except (OSError, ValueError, AttributeError):
        return None
    jobs = all_jobs()
    catalog = load_catalog()
    seen: dict[str, int] = {}
    for name, query in queries.items():
        if name not in jobs or not isinstance(query, dict):
            continue
        topic = catalog.entry(jobs[name].source).latest.topic
        records = int(query.get("committed_records") or 0)
        if topic:
            seen[topic] = min(seen.get(topic, records), records)
    return seen


def table_rows(settings: Settings, tables: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    with psycopg.connect(settings.postgres_dsn("realtime", reader=True), connect_timeout=5) as c:
        for table in tables:
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            row = c.execute(query).fetchone()
            counts[table] = int(row[0]) if row else 0
    return counts


def snapshot(settings: Settings, consumer: Consumer, tables: list[str]) -> Snapshot:
    rows = table_rows(settings, [*tables, "alerts"])
    alerts = rows.pop("alerts")
    return Snapshot(time.monotonic(), end_offsets(settings, consumer), rows, alerts)


def render(first: Snapshot, prev: Snapshot, now: Snapshot, lag: dict[str, int] | None) -> Table:
    table = Table(title=f"GlobalMart demo — {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")
    table.add_column("what")
    table.add_column("value", justify="right")
    span = max(now.at - prev.at, 1e-6)
    produced = sum(now.offsets.values()) - sum(first.offsets.values())
    rate = (sum(now.offsets.values()) - sum(prev.offsets.values())) / span
    table.add_row("events produced", f"{produced:,}")
    table.add_row("events/s into Kafka", f"{rate:,.0f}")
    for topic in EVENT_TOPICS:
        behind = (
            "n/a" if lag is None or topic not in lag else f"{now.offsets[topic] - lag[topic]:,}"
        )
        table.add_row(f"consumer lag {topic}", behind)
    table.add_row("alerts", f"{now.alerts:,}")
    for name, count in now.rows.items():
        table.add_row(f"rows {name}", f"{count:,}")
    return table


@app.callback(invoke_without_command=True)
def demo(
    rate: Annotated[float, typer.Option(help="Generated events per second.", min=1)] = 200.0,
    duration: Annotated[
        Optional[float], typer.Option(help="Stop by itself after this many seconds.", min=10)
    ] = None,
    users: Annotated[
        Optional[int], typer.Option(help="Users (default DATA_GEN_NUM_USERS).")
    ] = None,
    products: Annotated[
        Optional[int], typer.Option(help="Products (default DATA_GEN_NUM_PRODUCTS).")
    ] = None,
    seed: Annotated[
        Optional[int],
        typer.Option(
            help="Seed of the event sequence (default: a new one each run, printed by the "
            "generator; the same seed replays the same event ids, which the append-only tables "
            "then keep only once)."
        ),
    ] = None,
    final_batch: Annotated[
        bool, typer.Option(help="With --duration: run the batch for today before stopping.")
    ] = True,
    refresh: Annotated[float, typer.Option(help="Seconds between summary refreshes.", min=1)] = 5,
) -> None:
    """Start everything, show a live summary, stop everything on Ctrl-C (or after --duration)."""
    settings = get_settings()
    try:
        stack.up(settings, None, progress)
    except StackError as error:
        err_console.print(f"[bold red]error[/bold red] {error}")
        raise typer.Exit(1)
    demo_run = Demo(settings, settings.globalmart_state_dir / "logs")
    tables = [e.name for e in load_catalog().tables("realtime") if e.latest.table_type != "support"]
    interrupted = False
    failed: list[str] = []
    try:
        stream = subprocess.run(  # noqa: S603 - our own CLI
            [*_CLI, "stream", "start", "--owner-pid", str(os.getpid())], check=False
        )
        if stream.returncode != 0:
            err_console.print("[red]the stream jobs did not start[/red]: see `stream status`")
            raise typer.Exit(1)
        generate = [*_CLI, "generate", "--rate", str(rate)]
        generate += ["--seed", str(seed)] if seed is not None else []
        generate += ["--users", str(users)] if users else []
        generate += ["--products", str(products)] if products else []
        demo_run.spawn("generator", generate)
        demo_run.spawn("gateway", [*_CLI, "serve"])
        demo_run.spawn("batch-scheduler", [*_CLI, "batch", "schedule"])
        api = f"http://{settings.api_host}:{settings.api_port}"
        console.print(
            f"\n[bold]GlobalMart is running[/bold]\n"
            f"  dashboard        {api}/\n"
            f"  REST docs        {api}/docs\n"
            f"  GraphQL          {api}/graphql\n"
            f"  schema browser   {api}/registry\n"
            f"  Prometheus       http://{settings.prometheus_host}:{settings.prometheus_port}\n"
            f"  logs             {demo_run.logs}/demo-*.log, stream.log\n"
            "Ctrl-C stops everything the demo started.\n"
        )
        consumer = Consumer(
            {"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": "globalmart-demo"}
        )
        first = prev = snapshot(settings, consumer, tables)
        deadline = time.monotonic() + duration if duration else None
        with Live(render(first, prev, prev, None), console=console, refresh_per_second=1) as live:
            while deadline is None or time.monotonic() < deadline:
                time.sleep(refresh)
                now = snapshot(settings, consumer, tables)
                live.update(render(first, prev, now, processed_offsets(settings)))
                prev = now
                failed = [c.name for c in demo_run.children if not c.alive()]
                if failed:
                    logs = ", ".join(str(c.log) for c in demo_run.children if not c.alive())
                    err_console.print(f"[red]stopped unexpectedly[/red]: {', '.join(failed)}")
                    err_console.print(f"see {logs}")
                    break
        consumer.close()
        if duration and final_batch:
            # no new events while the batch archives the topics and builds today's warehouse
            for child in demo_run.children:
                if child.name == "generator":
                    child.stop()
            progress("demo: running the batch for today")
            day = datetime.now(UTC).date().isoformat()
            subprocess.run([*_CLI, "batch", "run", "--date", day], check=False)  # noqa: S603
        console.print(
            render(first, first, snapshot_final(settings, tables), processed_offsets(settings))
        )
    except KeyboardInterrupt:
        interrupted = True
    finally:
        demo_run.stop_all()
    if interrupted:
        console.print("demo stopped")
    elif failed:
        # a scripted run (--duration) must not look successful when part of the pipeline died
        raise typer.Exit(1)


def snapshot_final(settings: Settings, tables: list[str]) -> Snapshot:
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": "globalmart-demo"}
    )
    try:
        return snapshot(settings, consumer, tables)
    finally:
        consumer.close()
