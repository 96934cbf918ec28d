"""Entry point: `./pants run :globalmart -- <command>`.

Each subcommand lives in its own module; this file only wires them together, applies the global
options and sets up logging.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from globalmart.cli import (
    batch_cmd,
    bench_cmd,
    demo_cmd,
    generate_cmd,
    schemas_cmd,
    serve_cmd,
    stack_cmd,
    stream_cmd,
)
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
app.add_typer(generate_cmd.app, name="generate")
app.add_typer(stream_cmd.app, name="stream")
app.add_typer(batch_cmd.app, name="batch")
app.add_typer(serve_cmd.app, name="serve")
app.add_typer(demo_cmd.app, name="demo")
app.add_typer(bench_cmd.app, name="bench")


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


@app.command()
def health() -> None:
    """Check every component like the spec's health_check.sh; exit 0 only when all are healthy."""
    stack_cmd.status(names=None, as_json=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
