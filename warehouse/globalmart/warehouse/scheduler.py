"""The nightly schedule: every day at 02:00 UTC, run the batch for the day that just ended."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

HOUR, MINUTE = 2, 0


def nightly_trigger() -> CronTrigger:
    return CronTrigger(hour=HOUR, minute=MINUTE, timezone=UTC)


def next_run(after: datetime | None = None) -> datetime:
    after = after or datetime.now(UTC)
    fire = nightly_trigger().get_next_fire_time(None, after)
    assert fire is not None
    return fire.astimezone(UTC)


def day_to_process(fired_at: datetime) -> date:
    """A run at 02:00 on day N loads day N-1 (complete, late events included)."""
    return (fired_at.astimezone(UTC) - timedelta(days=1)).date()


def run_forever(
    job: Callable[[date], None], on_scheduled: Callable[[datetime], None] | None = None
) -> None:
    scheduler = BlockingScheduler(timezone=UTC)

    def fire() -> None:
        job(day_to_process(datetime.now(UTC)))
        if on_scheduled is not None:
            on_scheduled(next_run())

    # coalesce + one instance: a machine that slept through 02:00 runs once, not N times.
    scheduler.add_job(
        fire,
        nightly_trigger(),
        id="nightly_batch",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=6 * 3600,
    )
    if on_scheduled is not None:
        on_scheduled(next_run())
    scheduler.start()
