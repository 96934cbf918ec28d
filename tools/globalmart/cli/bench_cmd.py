"""`globalmart bench <benchmark>`: commands that measure and print figures (one per benchmark)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from globalmart.cli.console import console, err_console

app = typer.Typer(help="Run benchmarks against the local stack and print their figures.")


@app.command()
def generator(
    events: Annotated[int, typer.Option(help="Events the generator sends.", min=1000)] = 1_000_000,
    processes: Annotated[int, typer.Option(help="Generator worker processes.", min=1)] = 1,
    kafka_records: Annotated[
        Optional[int], typer.Option(help="Records for ProducerPerformance (default: --events).")
    ] = None,
    rounds: Annotated[
        int, typer.Option(help="Alternate both this many times; the best of each counts.", min=1)
    ] = 2,
    warmup: Annotated[
        Optional[int],
        typer.Option(
            help="Warm-up events/records per side, excluded (default: min(events, 100k)).", min=0
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Generator events/s into the broker (default mix) vs Kafka's ProducerPerformance."""
    from globalmart.bench.generator import BenchError, run_generator_bench
    from globalmart.core.settings import get_settings

    try:
        result = run_generator_bench(
            get_settings(), events, processes, kafka_records, rounds, warmup
        )
    except BenchError as exc:
        err_console.print(f"[bold red]error[/bold red] {exc}")
        raise typer.Exit(1) from None
    if as_json:
        console.print_json(json.dumps(result.as_dict()))
        return
    table = Table(
        title=f"bench generator (acks=all, default mix, best of {result.rounds}, "
        f"warm-up of {result.warmup:,} excluded)"
    )
    table.add_column("producer")
    table.add_column("records", justify="right")
    table.add_column("records/s", justify="right")
    table.add_column("every round", justify="right")
    table.add_column("record bytes", justify="right")
    table.add_row(
        f"globalmart generator ({result.processes} process)",
        f"{result.events:,}",
        f"{result.events_per_second:,.0f}",
        " ".join(f"{r:,.0f}" for r in result.rounds_events_per_second),
        f"{result.average_record_bytes:.0f} (+9 key)",
    )
    table.add_row(
        "kafka ProducerPerformance",
        f"{result.kafka_records:,}",
        f"{result.kafka_records_per_second:,.0f}",
        " ".join(f"{r:,.0f}" for r in result.rounds_kafka_records_per_second),
        f"{result.average_record_bytes + 9:.0f}",
    )
    console.print(table)
    verdict = {
        True: "[green]met[/green]",
        False: "[yellow]not met[/yellow]",
        None: "not claimed (the target is for one process)",
    }[result.meets_target]
    console.print(
        f"ratio generator/kafka: {result.ratio:.2f} · target "
        f"{result.target_events_per_second:,.0f} events/s "
        "(min of 100k/s and 0.5 x Kafka tool): "
        f"{verdict} · load average {result.load_before:.2f} -> {result.load_after:.2f}"
    )
    props = " ".join(f"{k}={v}" for k, v in result.kafka_producer_props.items())
    console.print(f"both producers: {props}")


AsJson = Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")]


def _emit(result: dict[str, object], as_json: bool) -> None:
    # The bench functions print their own table; --json prints only the figures.
    if as_json:
        console.print_json(json.dumps(result, default=str))


@app.command()
def stream(as_json: AsJson = False) -> None:
    """Highest sustained input rate the 5 stream jobs keep up with, and event-to-row latency."""
    from globalmart.bench.stream import run_stream_bench
    from globalmart.core.settings import get_settings

    _emit(run_stream_bench(get_settings(), as_json), as_json)


@app.command()
def batch(as_json: AsJson = False) -> None:
    """One day at the spec's volume through the batch jobs, against DuckDB on the same data."""
    from globalmart.bench.batch import run_batch_bench
    from globalmart.core.settings import get_settings

    _emit(run_batch_bench(get_settings(), as_json), as_json)


@app.command()
def api(as_json: AsJson = False) -> None:
    """Cached GET latency and requests/s of the gateway, against a bare Redis GET."""
    from globalmart.bench.api import run_api_bench
    from globalmart.core.settings import get_settings

    _emit(run_api_bench(get_settings(), as_json), as_json)


@app.command(name="all")
def all_(
    only: Annotated[
        Optional[list[str]],
        typer.Option(
            help="Benches to run (repeat or comma-separate): generator, stream, batch, api."
        ),
    ] = None,
    out: Annotated[
        Optional[Path], typer.Option(help="Folder of the JSON result and Markdown report.")
    ] = None,
    quick: Annotated[
        bool, typer.Option(help="Smaller generator and stream runs (indicative figures).")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """The benches in one run: a JSON result and a Markdown report (machine, versions, ratios)."""
    from globalmart.bench import all as bench_all
    from globalmart.core.settings import get_settings

    try:
        names = bench_all.parse_only(only)
    except ValueError as exc:
        err_console.print(f"[bold red]error[/bold red] {exc}")
        raise typer.Exit(2) from None
    sizes = bench_all.Sizes.quick() if quick else bench_all.Sizes()
    result = bench_all.run_all(get_settings(), names, sizes, quiet=as_json)
    json_path, md_path = bench_all.write_report(result, out or bench_all.default_out_dir())
    if as_json:
        console.print_json(json.dumps(result, default=str))
    else:
        console.print(bench_all.render_markdown(result), markup=False)
    err_console.print(f"wrote {json_path} and {md_path}")
    failed = [n for n, e in result["benches"].items() if not e.get("ok")]
    if failed:
        err_console.print(f"[bold red]failed[/bold red]: {', '.join(failed)}")
        raise typer.Exit(1)


@app.command()
def soak(
    rate: Annotated[float, typer.Option(help="Events per second held.", min=1)] = 500,
    minutes: Annotated[float, typer.Option(help="How long to hold it.", min=0.5)] = 30,
    seed: Annotated[
        int, typer.Option(help="Generator seed (the run is replayed to check it).")
    ] = 11,
    max_lag: Annotated[
        float, typer.Option("--max-lag", help="Lag bound, in seconds of input.")
    ] = 30.0,
    as_json: AsJson = False,
) -> None:
    """Hold a rate with the stream jobs running; bounded lag and memory; reconcile every event."""
    from globalmart.bench.soak import Limits, run_soak
    from globalmart.cli.console import progress
    from globalmart.core.settings import get_settings

    result = run_soak(
        get_settings(),
        rate,
        minutes * 60,
        seed,
        limits=Limits(max_lag_s=max_lag),
        progress=progress,
    )
    samples = result.pop("samples", [])
    if as_json:
        console.print_json(json.dumps({**result, "samples": samples}, default=str))
    else:
        console.print_json(json.dumps(result, default=str))
    if not result["ok"]:
        err_console.print(
            "[bold red]soak failed[/bold red]: see lag_bounded, rss_bounded, reconciliation"
        )
        raise typer.Exit(1)
