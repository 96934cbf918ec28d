"""A generator run: plan the workers, run them (in this process or several), watch, summarise.

The parent looks up the registry ids and checks the topics once, then runs one worker inline or
spawns `processes` workers (spawn, not fork: librdkafka threads and forks do not mix). Workers
report cumulative totals twice a second; the parent feeds the Prometheus metrics and the progress
display from them, and at the end writes a run summary to the run log (collection
generator_runs) and returns it.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import random
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient

from globalmart.core.runlog import GENERATOR_RUNS, record_quietly
from globalmart.core.settings import Settings
from globalmart.generators.config import DEFAULT_MIX, KINDS, ModelConfig
from globalmart.generators.metrics import GeneratorMetrics
from globalmart.generators.topics import ensure_topics, routes
from globalmart.generators.wire import Serializer, lookup_schema_ids
from globalmart.generators.worker import WorkerPlan, WorkerReport, ignore_interrupts, run_worker
from globalmart.schemas.catalog import load_catalog

log = logging.getLogger(__name__)

#: event-time pace when sending unthrottled (the virtual clock needs a rate)
UNTHROTTLED_PACE = 100_000.0


@dataclass
class RunOptions:
    #: events per second (all processes together); 0 = as fast as possible
    rate: float = 50.0
    count: int | None = None
    duration_s: float | None = None
    users: int = 10_000
    products: int = 1_000
    #: None: a fresh random seed (printed and recorded, so the run can be replayed)
    seed: int | None = None
    reference_seed: int = 42
    mix: tuple[float, float, float] = DEFAULT_MIX
    anomaly_rate: float = 0.02
    late_share: float = 0.01
    max_lateness_s: float = 900.0
    #: event time of the first event; None = now
    start_time: datetime | None = None
    sessions: int = 1_000
    processes: int = 1
    #: write to `<prefix><spec topic>` (created when missing) instead of the spec topics
    topic_prefix: str = ""
    create_topics: bool = False
    serializer: Serializer = "compiled"
    invalid_share: float = 0.0
    producer_config: dict[str, Any] = field(default_factory=dict)
    #: None: settings.generator_metrics_port; 0: no metrics endpoint
    metrics_port: int | None = None
    record_run: bool = True
    flush_timeout_s: float = 120.0


@dataclass
class RunSummary:
    run_id: str
    seed: int
    reference_seed: int
    started_at: datetime
    finished_at: datetime
    elapsed_s: float
    #: the workers' sending time: first event to the last acknowledgement (start-up excluded)
    send_s: float
    processes: int
    topics: dict[str, str]
    totals: dict[str, int]
    options: dict[str, Any]
    errors: list[str]

    @property
    def produced(self) -> int:
        return sum(self.totals.get(f"produced.{k}", 0) for k in KINDS)

    @property
    def delivered(self) -> int:
        return sum(self.totals.get(f"delivered.{k}", 0) for k in KINDS)

    @property
    def failed(self) -> int:
        return sum(self.totals.get(f"failed.{k}", 0) for k in KINDS)

    @property
    def invalid(self) -> int:
        return sum(self.totals.get(f"invalid.{k}", 0) for k in KINDS)

    @property
    def events_per_second(self) -> float:
        """Events generated per second of sending (acknowledgements included)."""
        seconds = self.send_s or self.elapsed_s
        return self.totals.get("generated", 0) / seconds if seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        """Everything generated was either acknowledged or dead-lettered (and acknowledged)."""
        return (
            not self.errors
            and self.failed == 0
            and self.totals.get("undelivered", 0) == 0
            and self.totals.get("dlq_failed", 0) == 0
            and self.delivered == self.produced
        )

    def document(self) -> dict[str, Any]:
        """The generator_runs record."""
        return {
            "run_id": self.run_id,
            "seed": self.seed,
            "reference_seed": self.reference_seed,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "elapsed_s": round(self.elapsed_s, 3),
            "send_s": round(self.send_s, 3),
            "events_per_second": round(self.events_per_second, 1),
            "processes": self.processes,
            "topics": self.topics,
            "generated": self.totals.get("generated", 0),
            "produced": self.produced,
            "delivered": self.delivered,
            "delivery_failures": self.failed,
            "invalid": self.invalid,
            "ok": self.ok,
            # nested: the run log (FerretDB) does not take dotted keys
            "totals": _nest(self.totals),
            "options": self.options,
            "errors": self.errors,
        }


ReportHook = Callable[[dict[int, WorkerReport], GeneratorMetrics], None]


def generate(
    settings: Settings, options: RunOptions, on_report: ReportHook | None = None
) -> RunSummary:
    """Run the generator to completion (count, duration or Ctrl-C) and return its summary."""
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**31)
    started_at = datetime.now(UTC)
    start = options.start_time or started_at.replace(microsecond=0)
    if start.tzinfo is None:
        raise ValueError("start_time must be timezone-aware (UTC)")
    processes = max(1, options.processes)
    base = ModelConfig(
        seed=seed,
        reference_seed=options.reference_seed,
        users=options.users,
        products=options.products,
        mix=options.mix,
        anomaly_rate=options.anomaly_rate,
        late_share=options.late_share,
        max_lateness_s=options.max_lateness_s,
        start_time_us=int(start.timestamp() * 1_000_000),
        events_per_second=options.rate or UNTHROTTLED_PACE,
        sessions=max(1, options.sessions // processes),
        invalid_share=options.invalid_share,
    )
    base.for_worker(processes - 1, processes)  # enough users for the processes?
    # settings first (a bad one fails before any connection), then topics and schema ids
    catalog = load_catalog()
    all_routes = routes(catalog, options.topic_prefix)
    ensure_topics(settings, all_routes, create=options.create_topics or bool(options.topic_prefix))
    client = SchemaRegistryClient({"url": settings.schema_registry_ccompat_url})
    ids = lookup_schema_ids(client, catalog, all_routes)
    plans = [
        WorkerPlan(
            model=base.for_worker(worker, processes),
            routes=all_routes,
            ids=ids,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            rate=options.rate / processes if options.rate else 0.0,
            count=_share(options.count, worker, processes),
            duration_s=options.duration_s,
            serializer=options.serializer,
            registry_url=settings.schema_registry_ccompat_url,
            producer_config=dict(options.producer_config),
            latency_sample=1 if options.rate and options.rate <= 2_000 else 16,
            flush_timeout_s=options.flush_timeout_s,
        )
        for worker in range(processes)
    ]

    metrics = GeneratorMetrics()
    port = settings.generator_metrics_port if options.metrics_port is None else options.metrics_port
    errors: list[str] = []
    reports: dict[int, WorkerReport] = {}

    def handle(report: WorkerReport) -> None:
        if report.error and not report.totals and report.worker in reports:
            report.totals = reports[report.worker].totals  # keep what it counted before failing
        reports[report.worker] = report
        if report.error:
            errors.append(f"worker {report.worker}: {report.error}")
        metrics.update(_sum_totals(reports), report.latencies)
        if on_report is not None:
            on_report(reports, metrics)

    stop = threading.Event() if processes == 1 else multiprocessing.get_context("spawn").Event()
    clock = time.monotonic()
    if processes == 1:
        _serve_metrics(metrics, port)
        metrics.processes.set(1)
        with _stop_on_interrupt(stop):
            run_worker(plans[0], handle, stop)
    else:
        _run_processes(plans, stop, handle, lambda: _serve_metrics(metrics, port), metrics)
    elapsed = time.monotonic() - clock
    metrics.processes.set(0)

    summary = RunSummary(
        run_id=uuid.uuid4().hex,
        seed=seed,
        reference_seed=options.reference_seed,
        started_at=started_at,
        finished_at=datetime.now(UTC),
        elapsed_s=elapsed,
        send_s=max((r.elapsed_s for r in reports.values()), default=0.0),
        processes=processes,
        topics={kind: r.topic for kind, r in all_routes.items()},
        totals=_sum_totals(reports),
        options=_options_document(options, start),
        errors=errors,
    )
    missing = [w for w in range(processes) if not (w in reports and reports[w].finished)]
    if missing:
        summary.errors.append(f"worker(s) {missing} ended without a final report")
    if options.record_run and not record_quietly(settings, GENERATOR_RUNS, summary.document()):
        log.warning("the run log did not take the run summary (FerretDB down or refusing)")
    return summary


def _share(total: int | None, worker: int, workers: int) -> int | None:
    if total is None:
        return None
    return total // workers + (1 if worker < total % workers else 0)


def _sum_totals(reports: dict[int, WorkerReport]) -> dict[str, int]:
    summed: dict[str, int] = {}
    for report in reports.values():
        for key, value in report.totals.items():
            summed[key] = summed.get(key, 0) + value
    return summed


def _nest(totals: dict[str, int]) -> dict[str, Any]:
    """{"produced.transaction": 3} -> {"produced": {"transaction": 3}}."""
    nested: dict[str, Any] = {}
    for key, value in totals.items():
        family, _, label = key.partition(".")
        if label:
            nested.setdefault(family, {})[label] = value
        else:
            nested[family] = value
    return nested


def _options_document(options: RunOptions, start: datetime) -> dict[str, Any]:
    document = asdict(options)
    document["start_time"] = start
    document["mix"] = list(options.mix)
    document["producer_config"] = {
        k.replace(".", "_"): v for k, v in options.producer_config.items()
    }
    return document


def _serve_metrics(metrics: GeneratorMetrics, port: int) -> None:
    if not port:
        return
    try:
        metrics.serve(port)
    except OSError as exc:
        log.warning("metrics endpoint not started: port %s: %s", port, exc)


class _stop_on_interrupt:
    """Ctrl-C / SIGTERM set the stop flag (the worker flushes) instead of killing the run."""

    def __init__(self, stop: Any) -> None:
        self.stop = stop
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.previous[sig] = signal.signal(sig, lambda *_: self.stop.set())

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def _run_processes(
    plans: list[WorkerPlan],
    stop: Any,
    handle: Callable[[WorkerReport], None],
    serve: Callable[[], None],
    metrics: GeneratorMetrics,
) -> None:
    context = multiprocessing.get_context("spawn")
    reports: Any = context.Queue()
    workers = [
        context.Process(
            target=_child_main, args=(plan, reports, stop), name=f"generator-{plan.model.worker}"
        )
        for plan in plans
    ]
    for process in workers:
        process.start()
    serve()
    metrics.processes.set(len(workers))
    finished: set[int] = set()
    with _stop_on_interrupt(stop):
        while len(finished) < len(workers):
            try:
                report: WorkerReport = reports.get(timeout=0.25)
            except queue.Empty:
                for index, process in enumerate(workers):
                    if index not in finished and not process.is_alive():
                        # died without a final report (killed, or crashed before reporting)
                        finished.add(index)
                continue
            handle(report)
            if report.finished:
                finished.add(report.worker)
    for process in workers:
        process.join(timeout=10)


def _child_main(plan: WorkerPlan, reports: Any, stop: Any) -> None:
    ignore_interrupts()
    try:
        run_worker(plan, reports.put, stop)
    except Exception as exc:  # report it: the parent shows it and marks the run failed
        reports.put(
            WorkerReport(
                plan.model.worker,
                {},
                0.0,
                finished=True,
                error=f"{type(exc).__name__}: {exc}",
            )
        )
