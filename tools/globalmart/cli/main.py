"""Entry point: `./pants run :globalmart -- <command>`.

Each subcommand lives in its own module; this file only wires them together, applies the global
options and sets up logging.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from globalmart.cli import schemas_cmd, stack_cmd
from globalmart.cli.console import err_console
from globalmart.core.logs import configure_logging
from globalmart.core.settings import get_settings

app = typer.Typer(
    name="globalmart",
    help="GlobalMart: real-time e-commerce analytics on Kafka, Spark, PostgreSQL and friends.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
app.add_typer(stack_cmd.app, name="stack")
app.add_typer(schemas_cmd.app, name="schemas")


@app.callback()
def _global_options(
    env_file: Annotated[
        Optional[Path],
        typer.Option("--env-file", help="Read settings from this file instead of ./.env."),
    ] = None,
    log_level: Annotated[
        Optional[str], typer.Option("--log-level", help="DEBUG, INFO, WARNING or ERROR.")
    ] = None,
) -> None:
    if env_file is not None:
        if not env_file.is_file():
            err_console.print(f"[red]error[/red] --env-file {env_file}: no such file")
            raise typer.Exit(2)
        os.environ["GLOBALMART_ENV_FILE"] = str(env_file.resolve())
        get_settings.cache_clear()
    configure_logging(log_level or get_settings().log_level)


_PENDING = {
    "generate": ("Stream realistic Avro events into Kafka.", 5),
    "stream": ("Start, stop and inspect the 5 Spark Structured Streaming jobs.", 6),
    "batch": ("Run the nightly warehouse ETL and batch analytics.", 7),
    "serve": ("Serve the REST + GraphQL gateway and the web dashboard.", 8),
    "demo": ("Run the whole pipeline on the local stack with a live summary.", 10),
    "bench": ("Run benchmarks and print their figures.", 11),
}


def _pending_command(name: str, summary: str, issue: int) -> None:
    @app.command(
        name=name,
        help=f"{summary} (not built yet: issue #{issue})",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )
    def _pending(ctx: typer.Context) -> None:
        err_console.print(f"[yellow]`{name}` is not built yet[/yellow] (tracked in issue #{issue})")
        raise typer.Exit(2)


for _name, (_summary, _issue) in _PENDING.items():
    _pending_command(_name, _summary, _issue)


@app.command()
def health() -> None:
    """Check every component like the spec's health_check.sh; exit 0 only when all are healthy."""
    stack_cmd.status(names=None, as_json=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
