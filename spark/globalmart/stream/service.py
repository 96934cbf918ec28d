"""The long-running stream driver behind `stream start`: one Spark session, one query per job.

It starts the requested jobs, then loops: it restarts a query that failed (after a back-off,
from its checkpoint, so nothing is lost), applies start/stop requests for single jobs (files in
the control folder, written by `stream start NAME` / `stream stop NAME`), and writes a status
file that `stream status` reads. Progress goes to Prometheus (settings.stream_metrics_port),
to the run-metrics store (`stream_progress`) and to the status file.

SIGTERM (what `stream stop` sends) stops it gracefully: each query finishes the batch it is
running, then stops; the Spark session closes and the pid file goes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery, StreamingQueryListener

from globalmart.core.runlog import ALERT_DELIVERIES, STREAM_PROGRESS, RunLog
from globalmart.core.settings import Settings, get_settings
from globalmart.stack.base import StatePaths, pid_alive
from globalmart.stream import registry_jobs, runner
from globalmart.stream.alerts import AlertDispatcher, parse_channels
from globalmart.stream.metrics import StreamMetrics
from globalmart.stream.writer import BatchReport

log = logging.getLogger("globalmart.stream")

#: how long a graceful stop waits for a running batch before stopping the query anyway
GRACE_SECONDS = 60.0
#: a failed query restarts after 1, 2, 4 ... seconds (at most this); a query failing once is
#: normal after a crash: Spark 4.1's Kafka source fails the progress report of the batch it
#: re-runs (after that batch has committed), and the restart carries on from there
MAX_RESTART_BACKOFF_SECONDS = 60.0
#: state-store partitions of a NEW checkpoint (an existing one keeps its own): one per core here
STREAM_SHUFFLE_PARTITIONS = 2


class RunPaths:
    """Where the service keeps its pid, status, control requests and log."""

    def __init__(self, settings: Settings, run_dir: Path | None = None) -> None:
        state = StatePaths(settings.globalmart_state_dir)
        self.run_dir = run_dir or state.run
        self.pid = self.run_dir / "stream.pid"
        self.status = self.run_dir / "stream-status.json"
        self.control = self.run_dir / "stream-control"
        self.log = state.logs / "stream.log"


class _Recorder:
    """Best-effort writes to the run-metrics store, off the Spark listener thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.queue: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue(maxsize=10_000)
        self.thread = threading.Thread(target=self._run, name="runlog", daemon=True)
        self.thread.start()

    def put(self, collection: str, document: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait((collection, document))
        except queue.Full:
            pass

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join(10)

    def _run(self) -> None:
        runlog: RunLog | None = None
        while True:
            item = self.queue.get()
            if item is None:
                break
            try:
                runlog = runlog or RunLog(self.settings, timeout_ms=2000)
                runlog.record(*item)
            except Exception:  # noqa: BLE001 - the metrics store is optional
                runlog = None
        if runlog is not None:
            runlog.close()


class _Listener(StreamingQueryListener):
    def __init__(self, service: StreamService) -> None:
        self.service = service

    def onQueryStarted(self, event: Any) -> None:
        log.info("query %s started (id %s)", event.name, event.id)

    def onQueryProgress(self, event: Any) -> None:
        self.service.on_progress(json.loads(event.progress.json))

    def onQueryIdle(self, event: Any) -> None:
        pass

    def onQueryTerminated(self, event: Any) -> None:
        if event.exception:
            log.error("query %s failed: %s", event.id, str(event.exception).splitlines()[0])


class StreamService:
    def __init__(
        self,
        spark: SparkSession,
        settings: Settings,
        config: runner.StreamConfig,
        paths: RunPaths,
        alert_channels: list[str],
        metrics_port: int | None,
    ) -> None:
        self.spark = spark
        self.settings = settings
        self.config = config
        self.paths = paths
        self.metrics = StreamMetrics()
        if metrics_port:
            self.metrics.serve(metrics_port)
        self.recorder = _Recorder(settings)
        self.dispatcher = AlertDispatcher(
            parse_channels(alert_channels),
            record=lambda doc: self.recorder.put(
                ALERT_DELIVERIES, {**doc, "pg_schema": config.pg_schema}
            ),
        )
        self.queries: dict[str, StreamingQuery] = {}
        self.progress: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.failures: dict[str, dict[str, Any]] = {}
        self.wanted: list[str] = []
        self.stopping = threading.Event()
        #: a process (e.g. `demo`) whose end also ends this driver, so none is left orphaned
        self.owner_pid: int | None = None
        self.started_at = datetime.now(UTC)
        self._lock = threading.Lock()

    # -- callbacks ----------------------------------------------------------------------------
    def on_progress(self, progress: dict[str, Any]) -> None:
        name = str(progress.get("name"))
        self.metrics.on_progress(progress)
        with self._lock:
            self.progress[name] = progress
        operators = progress.get("stateOperators") or []
        self.recorder.put(
            STREAM_PROGRESS,
            {
                "query": name,
                "pg_schema": self.config.pg_schema,
                "batch_id": progress.get("batchId"),
                "timestamp": progress.get("timestamp"),
                "input_rows": progress.get("numInputRows"),
                "input_rows_per_second": progress.get("inputRowsPerSecond"),
                "processed_rows_per_second": progress.get("processedRowsPerSecond"),
                "duration_ms": progress.get("durationMs"),
                "watermark": (progress.get("eventTime") or {}).get("watermark"),
                "rows_dropped_by_watermark": sum(
                    int(o.get("numRowsDroppedByWatermark", 0)) for o in operators
                ),
                "state_rows": sum(int(o.get("numRowsTotal", 0)) for o in operators),
            },
        )

    def on_commit(self, report: BatchReport) -> None:
        self.metrics.on_batch(report)
        with self._lock:
            self.batches[report.query_name] = {
                "batch_id": report.batch_id,
                "skipped": report.skipped,
                "rows": report.rows,
                "finalized": report.finalized,
                "watermark": report.watermark.isoformat() if report.watermark else None,
                "seconds": round(report.seconds, 3),
                "at": datetime.now(UTC).isoformat(),
            }
        if report.new_alerts:
            self.dispatcher.submit(report.new_alerts)

    # -- queries ------------------------------------------------------------------------------
    def start_jobs(self, names: list[str]) -> None:
        for spec in registry_jobs.select(names):
            if spec.name not in self.wanted:
                self.wanted.append(spec.name)
            self._start(spec.name)

    def _start(self, name: str) -> None:
        query = self.queries.get(name)
        if query is not None and query.isActive:
            return
        spec = registry_jobs.select([name])[0]
        try:
            self.queries[name] = runner.start_job(
                self.spark, self.settings, self.config, spec, self.on_commit
            )
            self.failures.pop(name, None)
        except Exception as error:  # noqa: BLE001 - keep the other jobs running
            log.exception("could not start %s", name)
            self._failed(name, error)

    def _failed(self, name: str, error: BaseException | str) -> None:
        previous = self.failures.get(name, {})
        self.failures[name] = {
            "error": (failure_reason(error) if isinstance(error, BaseException) else error)[:500],
            "at": time.time(),
            "restarts": int(previous.get("restarts", 0)),
        }

    def stop_job(self, name: str) -> None:
        if name in self.wanted:
            self.wanted.remove(name)
        query = self.queries.get(name)  # kept: `stream status` shows it as stopped
        if query is not None and query.isActive:
            graceful_stop(query)
        self.metrics.on_terminated(name)

    def supervise(self) -> None:
        """Restart failed queries (from their checkpoints) after a back-off."""
        for name in list(self.wanted):
            query = self.queries.get(name)
            if query is not None and query.isActive:
                continue
            if query is not None and name not in self.failures:
                exception = query.exception()
                self._failed(name, exception or "stopped")
                log.error("%s stopped: %s; restarting", name, failure_reason(exception))
            failure = self.failures.get(name)
            backoff = min(
                MAX_RESTART_BACKOFF_SECONDS, 2.0 ** int((failure or {}).get("restarts", 0))
            )
            if failure and time.time() - failure["at"] >= backoff:
                failure["restarts"] += 1
                failure["at"] = time.time()
                self._start(name)

    def _restart_failed_once(self, limit: int = 2) -> None:
        """available-now: restart a failed query from its checkpoint, at most `limit` times."""
        for name, query in list(self.queries.items()):
            if query.isActive or query.exception() is None:
                continue
            failure = self.failures.setdefault(name, {"restarts": 0})
            if failure["restarts"] >= limit:
                continue
            failure["restarts"] += 1
            log.warning("%s failed (%s); restarting", name, str(query.exception())[:200])
            restarts = failure["restarts"]
            self._start(name)
            self.failures[name] = {"restarts": restarts, "error": "restarted", "at": time.time()}

    def handle_requests(self) -> None:
        if not self.paths.control.exists():
            return
        for request in sorted(self.paths.control.iterdir()):
            action, _, name = request.name.partition("-")
            request.unlink(missing_ok=True)
            try:
                if action == "start":
                    self.start_jobs([name])
                elif action == "stop":
                    self.stop_job(name)
            except KeyError as error:
                log.error("ignored request %s: %s", request.name, error)

    def status(self) -> dict[str, Any]:
        with self._lock:
            queries = {}
            for name in sorted(set(self.wanted) | set(self.queries)):
                query = self.queries.get(name)
                progress = self.progress.get(name, {})
                checkpoint = self.config.checkpoint(registry_jobs.select([name])[0])
                last_commit, records = runner.committed(checkpoint)
                queries[name] = {
                    "active": bool(query is not None and query.isActive),
                    "id": str(query.id) if query is not None else None,
                    "checkpoint": str(checkpoint),
                    "last_committed_batch": last_commit,
                    "committed_records": records,
                    "last_progress": _summary(progress) if progress else None,
                    "last_batch": self.batches.get(f"{self.config.query_prefix}{name}"),
                    "failure": self.failures.get(name),
                }
        return {
            "pid": os.getpid(),
            "started_at": self.started_at.isoformat(),
            "updated_at": datetime.now(UTC).isoformat(),
            "pg_schema": self.config.pg_schema,
            "trigger": self.config.trigger,
            "queries": queries,
            "alerts": {
                "delivered": dict(self.dispatcher.delivered),
                "failed": dict(self.dispatcher.failed),
            },
        }

    def write_status(self) -> None:
        text = json.dumps(self.status(), indent=2, default=str)
        temporary = self.paths.status.with_suffix(".tmp")
        temporary.write_text(text)
        temporary.replace(self.paths.status)

    def run(self) -> int:
        """Supervise until stopped (SIGTERM) or, with trigger available-now, until all finish."""
        once = self.config.trigger == runner.AVAILABLE_NOW
        while not self.stopping.is_set():
            if self.owner_pid is not None and not pid_alive(self.owner_pid):
                log.info("owner process %d is gone: stopping gracefully", self.owner_pid)
                break
            self.handle_requests()
            if once:
                self._restart_failed_once()
                if all(not q.isActive for q in self.queries.values()):
                    break
            else:
                self.supervise()
            self.write_status()
            self.stopping.wait(1.0)
        failed = [
            n for n, q in self.queries.items() if not q.isActive and q.exception() is not None
        ]
        self.shutdown()
        return 1 if failed else 0

    def shutdown(self) -> None:
        for name in list(self.queries):
            query = self.queries[name]
            if query.isActive:
                graceful_stop(query)
            self.metrics.on_terminated(name)
        self.write_status()
        self.dispatcher.close()
        self.recorder.close()


def failure_reason(exception: BaseException | None) -> str:
    """One line on why a query stopped: our own NewWriterSchema if it was that (Spark wraps it
    deep inside its foreachBatch error), else the exception's first line."""
    lines = str(exception or "stopped").splitlines() or ["stopped"]
    return next((line for line in lines if "NewWriterSchema:" in line), lines[0]).strip()


def graceful_stop(query: StreamingQuery, grace: float = GRACE_SECONDS) -> None:
    """Let the running batch finish (its transaction commits), then stop the query."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and query.isActive:
        if not query.status.get("isTriggerActive", False):
            break
        time.sleep(0.2)
    query.stop()


def _summary(progress: dict[str, Any]) -> dict[str, Any]:
    operators = progress.get("stateOperators") or []
    return {
        "batch_id": progress.get("batchId"),
        "timestamp": progress.get("timestamp"),
        "input_rows": progress.get("numInputRows"),
        "input_rows_per_second": progress.get("inputRowsPerSecond"),
        "processed_rows_per_second": progress.get("processedRowsPerSecond"),
        "batch_ms": (progress.get("durationMs") or {}).get("triggerExecution"),
        "watermark": (progress.get("eventTime") or {}).get("watermark"),
        "state_rows": sum(int(o.get("numRowsTotal", 0)) for o in operators),
        "rows_dropped_by_watermark": sum(
            int(o.get("numRowsDroppedByWatermark", 0)) for o in operators
        ),
        "end_offsets": [s.get("endOffset") for s in progress.get("sources") or []],
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="globalmart.stream.service")
    parser.add_argument("--jobs", default="", help="comma-separated job names (default: all)")
    parser.add_argument("--pg-schema", default="public")
    parser.add_argument("--topic", action="append", default=[], help="SOURCE=TOPIC overrides")
    parser.add_argument("--checkpoint-root", type=Path, default=None)
    parser.add_argument("--run-dir", type=Path, default=None)
    parser.add_argument("--trigger", default="2 seconds")
    parser.add_argument("--max-offsets-per-trigger", type=int, default=None)
    parser.add_argument("--starting-offsets", default="earliest")
    parser.add_argument("--metrics-port", type=int, default=None)
    parser.add_argument("--alert-channel", action="append", default=[])
    parser.add_argument("--shuffle-partitions", type=int, default=None)
    parser.add_argument(
        "--owner-pid", type=int, default=None, help="stop gracefully once this process is gone"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.Formatter.converter = time.gmtime
    runner.pin_utc()
    paths = RunPaths(settings, args.run_dir)
    paths.run_dir.mkdir(parents=True, exist_ok=True)
    paths.pid.write_text(str(os.getpid()))
    config = runner.StreamConfig(
        checkpoint_root=args.checkpoint_root or runner.default_checkpoint_root(settings),
        pg_schema=args.pg_schema,
        topics=dict(t.split("=", 1) for t in args.topic),
        trigger=args.trigger,
        max_offsets_per_trigger=args.max_offsets_per_trigger,
        starting_offsets=args.starting_offsets,
    )
    from globalmart.spark.session import get_spark

    spark = get_spark(
        "globalmart-stream",
        settings,
        shuffle_partitions=args.shuffle_partitions or STREAM_SHUFFLE_PARTITIONS,
        conf={"spark.scheduler.mode": "FAIR"},
    )
    metrics_port = settings.stream_metrics_port if args.metrics_port is None else args.metrics_port
    service = StreamService(
        spark, settings, config, paths, args.alert_channel or ["log"], metrics_port
    )
    service.owner_pid = args.owner_pid
    spark.streams.addListener(_Listener(service))

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping gracefully", signum)
        service.stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    names = [n for n in args.jobs.split(",") if n]
    service.start_jobs(names)
    try:
        code = service.run()
    finally:
        spark.stop()
        if paths.pid.exists() and paths.pid.read_text().strip() == str(os.getpid()):
            paths.pid.unlink()
    log.info("stream service stopped")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
