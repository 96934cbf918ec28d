"""`globalmart generate`: stream realistic Avro events into Kafka (and `generate reference`)."""

from __future__ import annotations

import json
import random
import sys
from datetime import UTC, datetime
from typing import Annotated, Optional

import typer

from globalmart.cli.console import console, err_console
from globalmart.core.settings import Settings, get_settings
from globalmart.generators.codec import InvalidDatum
from globalmart.generators.config import ConfigError, parse_mix
from globalmart.generators.reference_topics import publish_reference
from globalmart.generators.runner import RunOptions, RunSummary, generate
from globalmart.generators.topics import TopicError
from globalmart.generators.wire import SERIALIZERS, RegistryLookupError

app = typer.Typer(
    help=(
        "Stream realistic, deterministic Avro events (60% views / 30% cart / 10% transactions "
        "by default) into the Kafka topics, validated against the registry's schemas."
    ),
    invoke_without_command=True,
)


def _parse_start(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--start-time {text!r}: expected ISO 8601, e.g. 2026-11-24T12:00:00Z")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _parse_producer(pairs: list[str]) -> dict[str, str]:
    config = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--producer {pair!r}: expected KEY=VALUE (a librdkafka setting)")
        config[key.strip()] = value.strip()
    return config


@app.callback()
def run(
    ctx: typer.Context,
    rate: Annotated[
        Optional[float],
        typer.Option(
            help="Events per second, all processes together (0 = as fast as possible). "
            "Default: DATA_GEN_EVENTS_PER_SECOND."
        ),
    ] = None,
    duration: Annotated[
        Optional[float], typer.Option(help="Stop after this many seconds.", min=0)
    ] = None,
    count: Annotated[
        Optional[int], typer.Option(help="Stop after this many events.", min=1)
    ] = None,
    users: Annotated[
        Optional[int], typer.Option(help="Users (1..10M). Default: DATA_GEN_NUM_USERS.")
    ] = None,
    products: Annotated[
        Optional[int], typer.Option(help="Products (1..250K). Default: DATA_GEN_NUM_PRODUCTS.")
    ] = None,
    seed: Annotated[
        Optional[int],
        typer.Option(
            help="Seed of the event sequence; the same seed replays the same events "
            "(give --start-time too for identical timestamps). Default: random, printed."
        ),
    ] = None,
    reference_seed: Annotated[
        Optional[int],
        typer.Option(
            help="Seed of the reference data (users, products). Default: DATA_GEN_SEED, "
            "which the stream and batch jobs use too."
        ),
    ] = None,
    processes: Annotated[int, typer.Option(help="Worker processes (users are split).", min=1)] = 1,
    mix: Annotated[str, typer.Option(help="views/cart/transactions shares.")] = "60/30/10",
    anomaly_rate: Annotated[
        float, typer.Option(help="Share of anomalous transactions.", min=0, max=1)
    ] = 0.02,
    late_share: Annotated[
        float, typer.Option(help="Share of late (out-of-order) events.", min=0, max=1)
    ] = 0.01,
    max_lateness: Annotated[
        float, typer.Option(help="Late events are 5 s up to this many seconds old.", min=5)
    ] = 900.0,
    start_time: Annotated[
        Optional[str], typer.Option(help="Event time of the first event (ISO 8601, UTC).")
    ] = None,
    sessions: Annotated[int, typer.Option(help="Concurrent shopping sessions.", min=1)] = 1000,
    topic_prefix: Annotated[
        str, typer.Option(help="Write to <prefix><topic> (created if missing), e.g. `try-`.")
    ] = "",
    serializer: Annotated[
        str, typer.Option(help=f"{' or '.join(SERIALIZERS)} (same bytes; compiled is faster).")
    ] = "compiled",
    invalid_share: Annotated[
        float,
        typer.Option(
            help="Share of deliberately invalid events, to exercise dead-lettering.", min=0, max=1
        ),
    ] = 0.0,
    producer: Annotated[
        Optional[list[str]], typer.Option(help="Extra librdkafka producer setting KEY=VALUE.")
    ] = None,
    metrics_port: Annotated[
        Optional[int],
        typer.Option(help="Prometheus /metrics port (0 = none). Default: GENERATOR_METRICS_PORT."),
    ] = None,
    show_progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run summary as JSON.")] = False,
    record: Annotated[
        bool, typer.Option("--record/--no-record", help="Write the summary to the run log.")
    ] = True,
) -> None:
    """Generate events until --count or --duration (or Ctrl-C, which flushes and stops)."""
    if ctx.invoked_subcommand is not None:
        return
    settings = get_settings()
    try:
        if serializer not in SERIALIZERS:
            raise ConfigError(f"--serializer {serializer!r}: use {' or '.join(SERIALIZERS)}")
        options = RunOptions(
            rate=settings.data_gen_events_per_second if rate is None else rate,
            count=count,
            duration_s=duration,
            users=users or settings.data_gen_num_users,
            products=products or settings.data_gen_num_products,
            seed=seed,
            reference_seed=settings.data_gen_seed if reference_seed is None else reference_seed,
            mix=parse_mix(mix),
            anomaly_rate=anomaly_rate,
            late_share=late_share,
            max_lateness_s=max_lateness,
            start_time=_parse_start(start_time),
            sessions=sessions,
            processes=processes,
            topic_prefix=topic_prefix,
            serializer=serializer,  # type: ignore[arg-type]
            invalid_share=invalid_share,
            producer_config=_parse_producer(producer or []),
            metrics_port=metrics_port,
            record_run=record,
        )
        if rate is not None and rate < 0:
            raise ConfigError("--rate must be 0 (unthrottled) or positive")
        summary = _run(settings, options, show_progress and not as_json)
    except (ConfigError, TopicError, RegistryLookupError, InvalidDatum, ValueError) as exc:
        err_console.print(f"[bold red]error[/bold red] {exc}")
        raise typer.Exit(2) from None
    if as_json:
        console.print_json(json.dumps(summary.document(), default=str))
    else:
        from globalmart.generators.display import summary_table

        console.print(summary_table(summary))
    if not summary.ok:
        for error in summary.errors:
            err_console.print(f"[bold red]error[/bold red] {error}")
        err_console.print("[bold red]not every event was acknowledged[/bold red]")
        raise typer.Exit(1)


def _run(settings: Settings, options: RunOptions, show_progress: bool) -> RunSummary:
    if options.seed is None:
        # chosen here so it is shown before the run (and can be replayed with --seed)
        options.seed = random.SystemRandom().randrange(2**31)
    err_console.print(
        f"seed {options.seed} · reference seed {options.reference_seed} · "
        f"{options.users:,} users · {options.products:,} products · "
        f"rate {'max' if not options.rate else f'{options.rate:,.0f}/s'} · "
        f"{options.processes} process(es)"
    )
    if show_progress and err_console.is_terminal:
        from globalmart.generators.display import LiveDisplay

        with LiveDisplay(err_console, options.count, options.duration_s) as display:
            return generate(settings, options, display.update)
    return generate(settings, options)


@app.command()
def reference(
    users: Annotated[Optional[int], typer.Option(help="Users to publish.")] = None,
    products: Annotated[Optional[int], typer.Option(help="Products to publish.")] = None,
    reference_seed: Annotated[Optional[int], typer.Option(help="Default: DATA_GEN_SEED.")] = None,
    topic_prefix: Annotated[str, typer.Option(help="Prefix of the reference topics.")] = "",
    sample: Annotated[
        int, typer.Option(help="Print this many records of each kind instead of publishing.")
    ] = 0,
) -> None:
    """Publish users, products, categories and countries to compacted reference topics.

    Every record is computed from its id and the reference seed, so this is optional: jobs can
    call globalmart.generators.reference themselves and get the same records.
    """
    settings = get_settings()
    seed = settings.data_gen_seed if reference_seed is None else reference_seed
    n_users = users or settings.data_gen_num_users
    n_products = products or settings.data_gen_num_products
    if sample:
        from globalmart.generators.reference import Reference

        ref = Reference(seed)
        for record in [
            *list(ref.countries())[:sample],
            *list(ref.categories())[:sample],
            *ref.users(min(sample, n_users)),
            *ref.products(min(sample, n_products)),
        ]:
            sys.stdout.write(json.dumps(record, default=str) + "\n")
        return
    try:
        counts = publish_reference(settings, seed, n_users, n_products, topic_prefix)
    except (TopicError, RegistryLookupError, RuntimeError) as exc:
        err_console.print(f"[bold red]error[/bold red] {exc}")
        raise typer.Exit(1) from None
    for topic, n in counts.items():
        console.print(f"{topic}: {n:,} records")
