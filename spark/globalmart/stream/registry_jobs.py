"""The five jobs by name, in the order `stream start` starts them."""

from __future__ import annotations

from globalmart.stream.job import JobSpec
from globalmart.stream.jobs import (
    anomaly_detector,
    cart_analyzer,
    inventory_tracker,
    product_view_analyzer,
    sales_aggregator,
)

JOBS: tuple[JobSpec, ...] = (
    sales_aggregator.JOB,
    cart_analyzer.JOB,
    product_view_analyzer.JOB,
    anomaly_detector.JOB,
    inventory_tracker.JOB,
)


def all_jobs() -> dict[str, JobSpec]:
    return {job.name: job for job in JOBS}


def select(names: list[str] | None) -> list[JobSpec]:
    jobs = all_jobs()
    if not names:
        return list(jobs.values())
    unknown = [n for n in names if n not in jobs]
    if unknown:
        raise KeyError(f"unknown job(s) {', '.join(unknown)}: one of {', '.join(jobs)}")
    return [jobs[n] for n in names]
