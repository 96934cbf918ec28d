from datetime import UTC, date, datetime

from globalmart.warehouse.scheduler import day_to_process, next_run


def test_next_run_is_0200_utc() -> None:
    assert next_run(datetime(2026, 11, 24, 1, 59, tzinfo=UTC)) == datetime(
        2026, 11, 24, 2, 0, tzinfo=UTC
    )
    assert next_run(datetime(2026, 11, 24, 2, 0, 1, tzinfo=UTC)) == datetime(
        2026, 11, 25, 2, 0, tzinfo=UTC
    )


def test_a_run_processes_the_previous_day() -> None:
    assert day_to_process(datetime(2026, 3, 1, 2, 0, tzinfo=UTC)) == date(2026, 2, 28)
