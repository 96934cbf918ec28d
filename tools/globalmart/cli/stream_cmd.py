"""`globalmart stream start|stop|status`: the 5 stream jobs in one background Spark driver.

`start` launches the driver (globalmart.stream.service) in the background with a pid file,
checkpoints under <state>/data/stream/checkpoints and its log in <state>/logs/stream.log, and
waits until the queries run. With job names it starts only those (or, when the driver already
runs, adds them to it). `stop` stops the driver gracefully (each query finishes its batch), or
only the named jobs. `status` shows each query and its last progress.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from globalmart.cli.console import console, err_console
from globalmart.core.settings import Settings, get_settings
from globalmart.stack.base import StatePaths

app = typer.Typer(help="Start, stop and inspect the 5 Spark Structured Streaming jobs.")

JOBS = (
    "sales_aggregator",
    "cart_analyzer",
    "product_view_analyzer",
    "anomaly_detector",
    "inventory_tracker",
)
_SERVICE_MODULE = "globalmart.stream.service"

Names = Annotated[
    Optional[list[str]],
    typer.Argument(help=f"Jobs to act on (default: all): {', '.join(JOBS)}."),
]
RunDir = Annotated[
    Optional[Path],
    typer.Option(
        "--run-dir", help="Folder of the pid/status files (default: <state>/run).", hidden=True
    ),
]


class Paths:
    def __init__(self, settings: Settings, run_dir: Path | None) -> None:
        state = StatePaths(settings.globalmart_state_dir)
        self.run_dir = run_dir or state.run
        self.pid = self.run_dir / "stream.pid"
        self.status = self.run_dir / "stream-status.json"
        self.control = self.run_dir / "stream-control"
        # an explicit run folder (tests, benches) keeps its log beside it
        self.log = run_dir / "stream.log" if run_dir else state.logs / "stream.log"


def running_pid(paths: Paths) -> int | None:
    """The driver's pid if it runs (a stale pid file, or a reused pid, counts as not running)."""
    try:
        pid = int(paths.pid.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if _SERVICE_MODULE.encode() in cmdline else None


def read_status(paths: Paths) -> dict[str, Any] | None:
    try:
        return dict(json.loads(paths.status.read_text()))
    except (OSError, ValueError):
        return None


def _check_names(names: list[str] | None) -> list[str]:
    unknown = [n for n in names or [] if n not in JOBS]
    if unknown:
        err_console.print(
            f"[red]error[/red] unknown job(s) {', '.join(unknown)}: one of {', '.join(JOBS)}"
        )
        raise typer.Exit(2)
    return list(names or [])


def _request(paths: Paths, action: str, names: list[str]) -> None:
    paths.control.mkdir(parents=True, exist_ok=True)
    for name in names:
        (paths.control / f"{action}-{name}").touch()


def _log_tail(paths: Paths, lines: int = 25) -> str:
    try:
        return "\n".join(paths.log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@app.command()
def start(
    names: Names = None,
    pg_schema: Annotated[str, typer.Option(help="Postgres schema of the tables.")] = "public",
    topic: Annotated[
        Optional[list[str]], typer.Option(help="SOURCE=TOPIC: read another topic.", hidden=True)
    ] = None,
    checkpoint_root: Annotated[
        Optional[Path],
        typer.Option(help="Checkpoints folder (default: <state>/data/stream/checkpoints)."),
    ] = None,
    trigger: Annotated[
        str,
        typer.Option(
            help="Micro-batch interval, or 'available-now' to process the backlog and exit."
        ),
    ] = "2 seconds",
    max_offsets_per_trigger: Annotated[
        Optional[int], typer.Option(help="Cap on records per micro-batch and query.")
    ] = None,
    metrics_port: Annotated[
        Optional[int], typer.Option(help="Prometheus port (default: STREAM_METRICS_PORT; 0: off).")
    ] = None,
    alert_channel: Annotated[
        Optional[list[str]],
        typer.Option(help="log, webhook=<url>; add @warning/@critical for a minimum severity."),
    ] = None,
    foreground: Annotated[bool, typer.Option(help="Run in this process (Ctrl-C stops).")] = False,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the queries to start.")] = 300.0,
    owner_pid: Annotated[
        Optional[int], typer.Option(help="Stop the driver once this process is gone.")
    ] = None,
    run_dir: RunDir = None,
) -> None:
    """Start the jobs (all by default) in one background Spark driver."""
    settings = get_settings()
    paths = Paths(settings, run_dir)
    wanted = _check_names(names)
    pid = running_pid(paths)
    if pid is not None:
        if not wanted:
            console.print(f"stream already running (pid {pid}); `stream status` shows its queries")
            return
        _request(paths, "start", wanted)
        _wait_for(paths, pid, wanted, wait)
        console.print(
            f"[green]started[/green] {', '.join(wanted)} in the running driver (pid {pid})"
        )
        return
    args = ["--pg-schema", pg_schema, "--trigger", trigger, "--run-dir", str(paths.run_dir)]
    if wanted:
        args += ["--jobs", ",".join(wanted)]
    for item in topic or []:
        args += ["--topic", item]
    if checkpoint_root is not None:
        args += ["--checkpoint-root", str(checkpoint_root.resolve())]
    if max_offsets_per_trigger:
        args += ["--max-offsets-per-trigger", str(max_offsets_per_trigger)]
    if metrics_port is not None:
        args += ["--metrics-port", str(metrics_port)]
    for channel in alert_channel or []:
        args += ["--alert-channel", channel]
    if owner_pid is not None:
        args += ["--owner-pid", str(owner_pid)]
    if foreground:
        from globalmart.stream.service import main as service_main

        raise typer.Exit(service_main(args))
    paths.run_dir.mkdir(parents=True, exist_ok=True)
    paths.log.parent.mkdir(parents=True, exist_ok=True)
    paths.status.unlink(missing_ok=True)
    env = dict(os.environ)
    # the child imports exactly what this process can (source roots, venv or PEX chroot)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    # the same settings: the same .env (by absolute path) and state folder
    env["GLOBALMART_ENV_FILE"] = str(Path(os.environ.get("GLOBALMART_ENV_FILE", ".env")).resolve())
    env["GLOBALMART_STATE_DIR"] = str(settings.globalmart_state_dir)
    with open(paths.log, "ab") as log_file:
        child = subprocess.Popen(
            [sys.executable, "-m", _SERVICE_MODULE, *args],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    paths.pid.write_text(str(child.pid))
    if trigger == "available-now":
        # a backfill: wait for it to finish and report how it ended
        try:
            code = child.wait(wait)
        except subprocess.TimeoutExpired:
            err_console.print(
                f"[yellow]still processing after {wait:.0f}s[/yellow] (pid {child.pid})"
            )
            raise typer.Exit(1) from None
        if code != 0:
            err_console.print(f"[red]error[/red] the stream driver exited ({code}):")
            err_console.print(_log_tail(paths), markup=False)
            raise typer.Exit(1)
        console.print(
            f"[green]caught up[/green]: {', '.join(wanted or JOBS)} processed the backlog"
        )
        return
    _wait_for(paths, child.pid, wanted or list(JOBS), wait, child)
    console.print(
        f"[green]stream started[/green] (pid {child.pid}): {', '.join(wanted or JOBS)}; "
        f"log {paths.log}"
    )


def _wait_for(
    paths: Paths,
    pid: int,
    names: list[str],
    timeout: float,
    child: subprocess.Popen[bytes] | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child is not None and child.poll() is not None:
            if child.returncode == 0:
                return  # available-now: done already
            err_console.print(f"[red]error[/red] the stream driver exited ({child.returncode}):")
            err_console.print(_log_tail(paths), markup=False)
            raise typer.Exit(1)
        status = read_status(paths) or {}
        queries = status.get("queries", {})
        if all(queries.get(n, {}).get("active") for n in names):
            return
        time.sleep(1)
    failed = {
        n: q["failure"]
        for n, q in ((read_status(paths) or {}).get("queries") or {}).items()
        if n in names and q.get("failure")
    }
    err_console.print(
        f"[red]error[/red] queries not running after {timeout:.0f}s ({failed or 'starting'}); "
        f"see {paths.log}"
    )
    raise typer.Exit(1)


@app.command()
def stop(
    names: Names = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for a graceful stop.")] = 120.0,
    run_dir: RunDir = None,
) -> None:
    """Stop the jobs gracefully (each finishes its running batch): all, or only the named ones."""
    settings = get_settings()
    paths = Paths(settings, run_dir)
    wanted = _check_names(names)
    pid = running_pid(paths)
    if pid is None:
        console.print("stream is not running")
        paths.pid.unlink(missing_ok=True)
        return
    if wanted:
        _request(paths, "stop", wanted)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            queries = (read_status(paths) or {}).get("queries", {})
            if all(n not in queries or not queries[n].get("active") for n in wanted):
                console.print(f"[green]stopped[/green] {', '.join(wanted)}")
                return
            time.sleep(1)
        err_console.print(
            f"[red]error[/red] {', '.join(wanted)} still running after {timeout:.0f}s"
        )
        raise typer.Exit(1)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running_pid(paths) is None:
            console.print(f"[green]stream stopped[/green] (pid {pid})")
            return
        time.sleep(0.5)
    err_console.print(f"[yellow]not stopped after {timeout:.0f}s: killing pid {pid}[/yellow]")
    os.kill(pid, signal.SIGKILL)
    paths.pid.unlink(missing_ok=True)


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
    run_dir: RunDir = None,
) -> None:
    """The driver and each query: running?, last batch, rates, watermark, late rows dropped."""
    settings = get_settings()
    paths = Paths(settings, run_dir)
    pid = running_pid(paths)
    state = read_status(paths) if pid is not None else None
    report = {"running": pid is not None, "pid": pid, **(state or {})}
    if as_json:
        print(json.dumps(report, indent=2, default=str))
    else:
        _print_status(report)
    if pid is None:
        raise typer.Exit(3)


def _print_status(report: dict[str, Any]) -> None:
    if not report["running"]:
        console.print("stream is [yellow]not running[/yellow] (`stream start` starts it)")
        return
    console.print(
        f"stream running (pid {report['pid']}, since {report.get('started_at', '?')}, "
        f"schema {report.get('pg_schema', 'public')}, trigger {report.get('trigger', '?')})"
    )
    table = Table(
        "query",
        "state",
        "batch",
        "in rows/s",
        "done rows/s",
        "batch ms",
        "watermark",
        "state rows",
        "late rows",
        "last write",
    )
    for name, query in sorted((report.get("queries") or {}).items()):
        progress = query.get("last_progress") or {}
        batch = query.get("last_batch") or {}
        state = "[green]running[/green]" if query.get("active") else "[red]stopped[/red]"
        if query.get("failure"):
            state = f"[red]failed[/red] ({query['failure'].get('error', '')[:40]})"
        written = sum((batch.get("rows") or {}).values()) if batch else 0
        table.add_row(
            name,
            state,
            str(progress.get("batch_id", "-")),
            f"{progress.get('input_rows_per_second') or 0:.0f}",
            f"{progress.get('processed_rows_per_second') or 0:.0f}",
            str(progress.get("batch_ms", "-")),
            str(progress.get("watermark", "-")),
            str(progress.get("state_rows", "-")),
            str(progress.get("rows_dropped_by_watermark", "-")),
            f"{written} rows, batch {batch.get('batch_id', '-')}" if batch else "-",
        )
    console.print(table)
