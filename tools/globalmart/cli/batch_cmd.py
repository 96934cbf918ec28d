"""`globalmart batch run|schedule|archive`: the nightly warehouse ETL and batch analytics."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Any, Optional

import typer

from globalmart.cli.console import console, err_console, progress
from globalmart.core.settings import get_settings

app = typer.Typer(
    help="Run the nightly warehouse ETL and batch analytics (RFM, product performance, sales "
    "trends) for a day or a range, on a schedule, and the raw event archive.",
    no_args_is_help=True,
)


def _day(value: Optional[str], option: str) -> Optional[date]:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        err_console.print(f"[red]error[/red] {option} {value!r}: expected YYYY-MM-DD")
        raise typer.Exit(2) from None


def _print_job(record: dict[str, Any]) -> None:
    rows = ", ".join(f"{k} {v}" for k, v in record.get("rows", {}).items())
    colour = "green" if record["status"] == "ok" else "red"
    console.print(
        f"{record['date']} [{colour}]{record['status']:6}[/{colour}] "
        f"{record['job']:20} {record['duration_s']:7.1f}s  {rows}"
    )


def _catch_up_archive(spark: Any, settings: Any) -> None:
    """Archive what Kafka holds and the archive lacks, so the day's batch sees every event even
    when no archive query runs continuously (the demo, a nightly cron)."""
    from globalmart.warehouse.archive import archive_available_now

    progress("batch: archiving what the event topics hold")
    result = archive_available_now(spark, settings)
    progress(f"batch: archived {result['input_rows']} message(s) in {result['batches']} batch(es)")


@app.command()
def run(
    day: Annotated[Optional[str], typer.Option("--date", help="The day to process (UTC).")] = None,
    first: Annotated[Optional[str], typer.Option("--from", help="First day of a backfill.")] = None,
    last: Annotated[Optional[str], typer.Option("--to", help="Last day of a backfill.")] = None,
    jobs: Annotated[
        Optional[list[str]],
        typer.Option(
            "--job",
            help="Only these jobs: etl, rfm, product_performance, "
            "sales_trends (repeatable; default all).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run records as JSON.")] = False,
    archive_first: Annotated[
        bool,
        typer.Option(
            "--archive/--no-archive",
            help="First archive what the event topics hold and the archive lacks (the batch "
            "reads the archive).",
        ),
    ] = True,
) -> None:
    """Run the batch for --date D, or backfill --from D1 --to D2 (each day replaced exactly)."""
    from globalmart.spark.session import get_spark
    from globalmart.warehouse.runner import JOBS, default_target, run_range

    one, start, end = _day(day, "--date"), _day(first, "--from"), _day(last, "--to")
    if one is not None and (start or end):
        err_console.print("[red]error[/red] use --date, or --from with --to, not both")
        raise typer.Exit(2)
    if one is None and (start is None or end is None):
        err_console.print("[red]error[/red] give --date D, or --from D1 --to D2")
        raise typer.Exit(2)
    start, end = (one, one) if one is not None else (start, end)
    assert start is not None and end is not None
    if end < start:
        err_console.print(f"[red]error[/red] --to {end} is before --from {start}")
        raise typer.Exit(2)
    unknown = sorted(set(jobs or []) - set(JOBS))
    if unknown:
        err_console.print(
            f"[red]error[/red] unknown job(s) {', '.join(unknown)}: " f"one of {', '.join(JOBS)}"
        )
        raise typer.Exit(2)
    settings = get_settings()
    progress(f"batch {start} .. {end}: starting Spark")
    spark = get_spark("globalmart-batch", settings)
    try:
        if archive_first:
            _catch_up_archive(spark, settings)
        records = run_range(
            spark,
            default_target(settings),
            start,
            end,
            jobs or tuple(JOBS),
            on_job=None if as_json else _print_job,
        )
    except Exception as error:  # noqa: BLE001 - recorded in batch_runs; one line for the user
        err_console.print(f"[red]batch failed[/red] {type(error).__name__}: {error}")
        raise typer.Exit(1) from None
    finally:
        spark.stop()
    if as_json:
        console.print_json(json.dumps(records, default=str))


@app.command()
def schedule(
    show: Annotated[bool, typer.Option("--show", help="Only print the next run time.")] = False,
) -> None:
    """Run the batch every night at 02:00 UTC for the day that ended (until interrupted)."""
    from globalmart.warehouse.scheduler import next_run, run_forever

    def announce(when: datetime) -> None:
        console.print(f"next batch run: {when.isoformat()} (02:00 UTC daily)")

    if show:
        announce(next_run())
        return

    def job(day: date) -> None:
        from globalmart.spark.session import get_spark
        from globalmart.warehouse.runner import default_target, run_range

        settings = get_settings()
        spark = get_spark("globalmart-batch", settings)
        try:
            _catch_up_archive(spark, settings)
            run_range(spark, default_target(settings), day, day, on_job=_print_job)
        except Exception as error:  # noqa: BLE001 - already in batch_runs; keep the schedule
            err_console.print(f"[red]batch for {day} failed[/red] {error}")
        finally:
            spark.stop()
        # Nightly housekeeping: the run metrics store has no TTL indexes (FerretDB v1).
        from globalmart.core.retention import prune_all

        try:
            prune_all(settings)
        except Exception as error:  # noqa: BLE001 - never stop the schedule for housekeeping
            err_console.print(f"[yellow]run metrics retention failed[/yellow] {error}")

    try:
        run_forever(job, announce)
    except (KeyboardInterrupt, SystemExit):
        console.print("scheduler stopped")


@app.command()
def archive(
    available_now: Annotated[
        bool, typer.Option("--available-now", help="Archive what is in Kafka now, then stop.")
    ] = False,
) -> None:
    """Archive the three event topics into Parquet by event date (<state>/data/archive)."""
    from globalmart.spark.session import get_spark
    from globalmart.warehouse.archive import archive_available_now, start_archive_query
    from globalmart.warehouse.layout import archive_root

    settings = get_settings()
    spark = get_spark("globalmart-archive", settings)
    try:
        if available_now:
            result = archive_available_now(spark, settings)
            console.print(
                f"archived {result['input_rows']} messages in {result['batches']} "
                f"batch(es) into {archive_root(settings)}"
            )
            return
        query = start_archive_query(spark, settings)
        console.print(f"archiving into {archive_root(settings)} (Ctrl-C stops)")
        query.awaitTermination()
    except KeyboardInterrupt:
        console.print("archive stopped")
    finally:
        spark.stop()
