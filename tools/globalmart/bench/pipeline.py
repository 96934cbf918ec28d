"""A whole pipeline on private names, for the soak and the chaos tests: the real generator into
prefixed topics, the real stream driver (`globalmart.stream.service`, its own process group)
into a Postgres schema, then the archive and the nightly batch, and the reconciliation of all
of it (globalmart.bench.reconcile).

Everything it creates is named after `prefix`, so it shares a stack with other work; `settings`
may also point at private instances (the chaos tests' own Kafka, PostgreSQL and registry): the
driver process gets every setting through its environment.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from globalmart.bench import reconcile
from globalmart.core.settings import Settings
from globalmart.generators.runner import RunOptions, RunSummary, generate
from globalmart.generators.topics import Route, ensure_topics, routes
from globalmart.schemas.catalog import load_catalog
from globalmart.schemas.registry import registry_text
from globalmart.stack.kafka import delete_topics

#: stream job -> the event kind it reads (the stream jobs' `source`)
JOB_SOURCE = {
    "sales_aggregator": "transaction",
    "anomaly_detector": "transaction",
    "inventory_tracker": "transaction",
    "cart_analyzer": "cart_event",
    "product_view_analyzer": "product_view",
}
SERVICE = "globalmart.stream.service"


class PipelineError(RuntimeError):
    pass


def settings_env(settings: Settings) -> dict[str, str]:
    """Every setting as an environment variable (they win over .env in the child)."""
    return {
        name.upper(): str(value)
        for name, value in settings.model_dump().items()
        if isinstance(value, (str, int, float, bool, Path))
    }


def rss_of_tree(pid: int) -> int | None:
    """Resident bytes of a process and all its descendants (a driver and its JVM, a postmaster
    and its backends); None when it is gone."""
    try:
        root = psutil.Process(pid)
        total = root.memory_info().rss
        for child in root.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                continue
        return int(total)
    except psutil.Error:
        return None


def component_pids(settings: Settings) -> dict[str, int]:
    """The stack's own processes (what `stack status --json` reports as pid)."""
    from globalmart.stack import stack

    found = {}
    for component in stack.all_components(settings):
        pid = component.owned_pid()
        if pid is not None:
            found[component.name] = pid
    return found


@dataclass
class Pipeline:
    settings: Settings
    workdir: Path
    prefix: str = field(default_factory=lambda: f"gmsoak-{uuid.uuid4().hex[:8]}-")
    #: real-time tables: "public" (a private PostgreSQL) or a scratch schema of this name
    pg_schema: str = ""
    trigger: str = "2 seconds"
    runs: list[RunOptions] = field(default_factory=list)
    summaries: list[RunSummary] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.pg_schema = self.pg_schema or self.prefix.strip("-").replace("-", "_")
        self.routes: dict[str, Route] = routes(load_catalog(), self.prefix)
        self.topics = {kind: r.topic for kind, r in self.routes.items()}
        self.run_dir = self.workdir / "run"
        self.checkpoints = self.workdir / "checkpoints"
        self.archive_dir = self.workdir / "archive"
        self.warehouse_schema = f"{self.pg_schema}_wh"

    # -- set-up and clean-up ----------------------------------------------------------------
    def create(self) -> None:
        from globalmart.stream import testing

        self.workdir.mkdir(parents=True, exist_ok=True)
        ensure_topics(self.settings, self.routes, create=True)
        self.register_subjects()
        if self.pg_schema != "public":
            testing.create_scratch_schema(self.settings, self.pg_schema)

    def register_subjects(self) -> None:
        """The jobs read the writer schemas of `<topic>-value`: register the contract text there
        too (the same text gets the same registry id as under the spec topic's subject)."""
        catalog = load_catalog()
        for kind, topic in self.topics.items():
            response = httpx.post(
                f"{self.settings.schema_registry_ccompat_url}/subjects/{topic}-value/versions",
                json={"schema": registry_text(catalog.entry(kind).latest)},
                timeout=15,
            )
            response.raise_for_status()

    def drop(self) -> None:
        from globalmart.stream import testing
        from globalmart.warehouse import pg

        self.stop_driver()
        names = [n for r in self.routes.values() for n in (r.topic, r.dlq_topic)]
        steps: list[Callable[[], None]] = [
            lambda: delete_topics(self.settings.kafka_bootstrap_servers, names),
            lambda: pg.drop_schema(self.settings, self.warehouse_schema),
        ]
        if self.pg_schema != "public":
            steps.append(lambda: testing.drop_scratch_schema(self.settings, self.pg_schema))
        for step in steps:
            try:
                step()
            except Exception:  # noqa: BLE001 - best-effort clean-up of scratch names
                pass
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- the stream driver ------------------------------------------------------------------
    def start_driver(self, timeout: float = 600.0) -> None:
        args = [
            "--pg-schema",
            self.pg_schema,
            "--checkpoint-root",
            str(self.checkpoints),
            "--run-dir",
            str(self.run_dir),
            "--trigger",
            self.trigger,
            "--metrics-port",
            "0",
            "--alert-channel",
            "log@critical",
        ]
        for kind, topic in self.topics.items():
            args += ["--topic", f"{kind}={topic}"]
        env = {
            **os.environ,
            **settings_env(self.settings),
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
            "LOG_LEVEL": "WARNING",
        }
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "stream-status.json").unlink(missing_ok=True)
        with open(self.workdir / "stream.log", "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", SERVICE, *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )
        self._until(self._all_active, timeout, "the 5 stream queries to start")

    def _all_active(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise PipelineError(f"the stream driver exited; see {self.workdir / 'stream.log'}")
        queries = self.status().get("queries", {})
        return len(queries) == len(JOB_SOURCE) and all(q.get("active") for q in queries.values())

    @property
    def driver_pid(self) -> int | None:
        alive = self.process is not None and self.process.poll() is None
        return self.process.pid if alive and self.process else None

    def kill_driver(self) -> None:
        """kill -9 of the driver's whole process group (its JVM too), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(60)

    def stop_driver(self, timeout: float = 120.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(60)

    def status(self) -> dict[str, Any]:
        import json

        try:
            return dict(json.loads((self.run_dir / "stream-status.json").read_text()))
        except (OSError, ValueError):
            return {}

    def lag(self) -> dict[str, int]:
        """Per job: records in its topic not yet committed by its query."""
        from globalmart.stream import testing

        ends = testing.end_offsets(self.settings, self.topics.values())
        queries = self.status().get("queries", {})
        return {
            job: ends[self.topics[kind]] - int(queries.get(job, {}).get("committed_records") or 0)
            for job, kind in JOB_SOURCE.items()
        }

    def wait_caught_up(self, timeout: float = 300.0, quiet: float = 4.0) -> None:
        """Every query committed all there is, and its last batch stayed put for `quiet` s."""
        last: dict[str, Any] = {}
        since = time.monotonic()

        def done() -> bool:
            nonlocal last, since
            if self.process is None or self.process.poll() is not None:
                raise PipelineError(f"the stream driver exited; see {self.workdir}/stream.log")
            batches = {
                n: q.get("last_committed_batch")
                for n, q in self.status().get("queries", {}).items()
            }
            if batches != last:
                last, since = batches, time.monotonic()
            return all(v <= 0 for v in self.lag().values()) and time.monotonic() - since >= quiet

        self._until(done, timeout, "the stream queries to catch up")

    @staticmethod
    def _until(check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(1)
        raise PipelineError(f"timed out after {timeout:.0f}s waiting for {what}")

    # -- the generator ----------------------------------------------------------------------
    def options(self, seed: int, count: int, rate: float, **extra: Any) -> RunOptions:
        """A replayable run: explicit seed, count and start time; no late events."""
        start = datetime.now(UTC).replace(microsecond=0)
        return RunOptions(
            rate=rate,
            count=count,
            seed=seed,
            start_time=start,
            late_share=0.0,
            users=self.settings.data_gen_num_users,
            products=self.settings.data_gen_num_products,
            reference_seed=self.settings.data_gen_seed,
            topic_prefix=self.prefix,
            metrics_port=0,
            record_run=False,
            **extra,
        )

    def generate(self, options: RunOptions) -> RunSummary:
        """Run it to the end. It counts for the reconciliation unless generate() raised, which it
        does only before sending anything (settings, topics, registry look-ups)."""
        self.runs.append(options)
        try:
            summary = generate(self.settings, options)
        except Exception:
            self.runs.remove(options)
            raise
        self.summaries.append(summary)
        return summary

    def generate_in_background(self, options: RunOptions) -> threading.Thread:
        errors: list[BaseException] = []

        def run() -> None:
            try:
                self.generate(options)
            except BaseException as error:  # noqa: BLE001 - re-raised by join_generator
                errors.append(error)

        thread = threading.Thread(target=run, name="generator", daemon=True)
        thread.errors = errors  # type: ignore[attr-defined]
        thread.start()
        return thread

    # -- reconciliation ---------------------------------------------------------------------
    def expected(self) -> reconcile.Expected:
        return reconcile.expect(self.runs)

    def reconcile_live(
        self,
        expected: reconcile.Expected | None = None,
        poison: dict[str, int] | None = None,
        poison_ids: set[str] | None = None,
    ) -> reconcile.Report:
        """Kafka and the real-time tables (the driver must have caught up)."""
        expected = expected or self.expected()
        return reconcile.Report(
            [
                reconcile.check_kafka(self.settings, self.topics, expected, poison, poison_ids),
                reconcile.check_realtime(self.settings, self.pg_schema, expected),
            ]
        )

    def archive_and_batch(self, spark: Any, days: set[date]) -> dict[str, Any]:
        """Archive everything in the topics (one-shot), then the nightly batch for `days`."""
        from globalmart.warehouse import pg
        from globalmart.warehouse.archive import archive_available_now
        from globalmart.warehouse.etl import Target
        from globalmart.warehouse.runner import run_day

        clock = time.monotonic()
        archived = archive_available_now(
            spark,
            self.settings,
            {topic: kind for kind, topic in self.topics.items()},
            str(self.archive_dir),
            query_name=f"archive_{self.pg_schema}",
        )
        archive_s = time.monotonic() - clock
        target = Target(
            self.settings,
            str(self.archive_dir),
            str(self.workdir / "reference"),
            self.warehouse_schema,
        )
        pg.ensure_schema(self.settings, self.warehouse_schema)
        clock = time.monotonic()
        jobs = []
        for day in sorted(days):
            jobs += [(r["job"], r["status"]) for r in run_day(spark, target, day, jobs=["etl"])]
        return {
            "archived": archived,
            "archive_s": round(archive_s, 1),
            "batch_s": round(time.monotonic() - clock, 1),
            "batch_jobs": jobs,
        }

    def reconcile_all(
        self,
        spark: Any,
        poison: dict[str, int] | None = None,
        poison_ids: set[str] | None = None,
    ) -> tuple[reconcile.Report, dict[str, Any]]:
        """Every layer; stops the driver first (the archive and batch share its 2 cores)."""
        expected = self.expected()
        live = self.reconcile_live(expected, poison, poison_ids)
        self.stop_driver()
        figures = self.archive_and_batch(spark, expected.days)
        layers = live.layers + [
            reconcile.check_archive(self.archive_dir, expected, poison_ids),
            reconcile.check_warehouse(self.settings, self.warehouse_schema, expected),
        ]
        figures["events"] = expected.total
        return reconcile.Report(layers), figures
