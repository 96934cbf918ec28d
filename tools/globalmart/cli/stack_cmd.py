"""`globalmart stack up|down|status|logs|reset`: the local stack, natively, no Docker."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.table import Table

from globalmart.cli.console import console, err_console, progress
from globalmart.core.settings import get_settings
from globalmart.stack import stack
from globalmart.stack.base import StackError

app = typer.Typer(help="Provision, start, check and stop the local stack (no Docker needed).")

Names = Annotated[
    Optional[list[str]],
    typer.Argument(help="Components to act on (default: all). See `stack status`."),
]


def _fail(error: StackError) -> None:
    err_console.print(f"[bold red]error[/bold red] {error}")
    raise typer.Exit(1)


@app.command()
def up(names: Names = None) -> None:
    """Provision what is missing and start every component; reuses what already runs."""
    try:
        timings = stack.up(get_settings(), names, progress)
    except StackError as error:
        _fail(error)
    total = sum(timings.values())
    console.print(f"[green]stack up[/green]: {len(timings)} component(s) healthy in {total:.1f}s")


@app.command()
def down(names: Names = None) -> None:
    """Stop the components this stack started (nothing else is touched)."""
    try:
        stack.down(get_settings(), names, progress)
    except StackError as error:
        _fail(error)
    console.print("[green]stack down[/green]")


@app.command()
def status(
    names: Names = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON, one object per component.")
    ] = False,
) -> None:
    """Health, address, version and pid of each component; exit 1 unless all are healthy."""
    try:
        statuses = stack.status(get_settings(), names)
    except StackError as error:
        _fail(error)
    if as_json:
        typer.echo(json.dumps([s.as_dict() for s in statuses], indent=2))
    else:
        table = Table("component", "healthy", "address", "version", "pid")
        for s in statuses:
            mark = "[green]yes[/green]" if s.healthy else "[red]no[/red]"
            table.add_row(s.name, mark, f"{s.host}:{s.port}", s.version, str(s.pid or "-"))
        console.print(table)
    if not all(s.healthy for s in statuses):
        raise typer.Exit(1)


@app.command()
def logs(
    name: Annotated[str, typer.Argument(help="Component name.")],
    lines: Annotated[int, typer.Option("--lines", "-n", min=1)] = 50,
) -> None:
    """Print the last lines of one component's log."""
    try:
        for line in stack.tail_log(get_settings(), name, lines):
            typer.echo(line.rstrip("\n"))
    except StackError as error:
        _fail(error)


@app.command()
def reset(
    names: Names = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Stop components and delete their data folders (provisioned software is kept)."""
    if not yes:
        typer.confirm("Delete the stack's data?", abort=True)
    try:
        stack.reset(get_settings(), names, progress)
    except StackError as error:
        _fail(error)
    console.print("[green]stack reset[/green]")
