"""The live progress display of a generator run (rich), and the summary table printed after it."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from globalmart.generators.config import KINDS
from globalmart.generators.metrics import GeneratorMetrics
from globalmart.generators.runner import RunSummary
from globalmart.generators.worker import WorkerReport


def _sum(reports: dict[int, WorkerReport]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for report in reports.values():
        for key, value in report.totals.items():
            totals[key] = totals.get(key, 0) + value
    return totals


class LiveDisplay:
    """A progress bar (when the run has a count or a duration) over a per-type table."""

    def __init__(self, console: Console, count: int | None, duration_s: float | None) -> None:
        self.console = console
        self.count = count
        self.duration_s = duration_s
        self.started = time.monotonic()
        self.progress = Progress(
            TextColumn("[bold]generating[/bold]"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[rate]}"),
            console=console,
        )
        total = float(count) if count else (duration_s if duration_s else None)
        self.task = self.progress.add_task("events", total=total, rate="")
        self.live = Live(self._render({}), console=console, refresh_per_second=4, transient=False)
        self._window: list[tuple[float, int]] = []

    def __enter__(self) -> LiveDisplay:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.live.__exit__(*exc)

    def update(self, reports: dict[int, WorkerReport], _metrics: GeneratorMetrics) -> None:
        totals = _sum(reports)
        now = time.monotonic()
        generated = totals.get("generated", 0)
        self._window = [(t, n) for t, n in self._window if now - t < 3.0] + [(now, generated)]
        first_t, first_n = self._window[0]
        rate = (generated - first_n) / (now - first_t) if now > first_t else 0.0
        done = generated if self.count else (now - self.started)
        self.progress.update(self.task, completed=done, rate=f"{rate:,.0f} events/s")
        self.live.update(self._render(totals))

    def _render(self, totals: dict[str, int]) -> Group:
        table = Table(box=None, pad_edge=False)
        for column in ("type", "sent", "acknowledged", "failed", "dead-lettered"):
            table.add_column(column, justify="right" if column != "type" else "left")
        for kind in KINDS:
            table.add_row(
                kind,
                f"{totals.get(f'produced.{kind}', 0):,}",
                f"{totals.get(f'delivered.{kind}', 0):,}",
                f"{totals.get(f'failed.{kind}', 0):,}",
                f"{totals.get(f'invalid.{kind}', 0):,}",
            )
        anomalies = sum(v for k, v in totals.items() if k.startswith("anomaly."))
        footer = f"anomalies {anomalies:,} · late {totals.get('late', 0):,}"
        return Group(self.progress, table, Text(footer))


def summary_table(summary: RunSummary) -> Table:
    totals = summary.totals
    table = Table(title=f"generator run {summary.run_id[:12]} (seed {summary.seed})")
    table.add_column("type")
    for column in ("sent", "acknowledged", "failed", "dead-lettered"):
        table.add_column(column, justify="right")
    for kind in KINDS:
        table.add_row(
            f"{kind} → {summary.topics[kind]}",
            f"{totals.get(f'produced.{kind}', 0):,}",
            f"{totals.get(f'delivered.{kind}', 0):,}",
            f"{totals.get(f'failed.{kind}', 0):,}",
            f"{totals.get(f'invalid.{kind}', 0):,}",
        )
    anomalies = ", ".join(
        f"{k.removeprefix('anomaly.')} {v:,}" for k, v in totals.items() if k.startswith("anomaly.")
    )
    table.caption = (
        f"{totals.get('generated', 0):,} events in {summary.send_s:.1f}s "
        f"({summary.events_per_second:,.0f}/s) · anomalous transactions: {anomalies} · "
        f"late {totals.get('late', 0):,} · undelivered {totals.get('undelivered', 0):,}"
    )
    return table
