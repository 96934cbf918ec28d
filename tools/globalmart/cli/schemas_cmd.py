"""`globalmart schemas check|release|register|list|show|ddl`: the Avro contracts."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from globalmart.cli.console import console, err_console
from globalmart.core.settings import get_settings
from globalmart.schemas import manifest
from globalmart.schemas.catalog import Catalog, load_catalog
from globalmart.schemas.check import run_checks
from globalmart.schemas.ddl import apply_ddl, compare, describe_live, expected_tables, render
from globalmart.schemas.policy import Policy, load_policy
from globalmart.schemas.registry import (
    Registry,
    RegistryError,
    fetch,
    register_all,
    registered,
    registry_check,
)
from globalmart.schemas.violations import Violation

app = typer.Typer(
    help="Check, release, register, list, show and turn into DDL the Avro contracts.",
    no_args_is_help=True,
)

#: where the schema tree sits in a checkout (for `release`, which must write to the repository)
REPO_TREE = Path("schemas/globalmart/schemas/avro")
DATABASES = ("realtime", "warehouse")

SchemasDir = Annotated[
    Optional[Path],
    typer.Option(
        "--schemas-dir",
        help="Schema tree to use (default: the one shipped with this build).",
        file_okay=False,
    ),
]
PolicyFile = Annotated[
    Optional[Path],
    typer.Option(
        "--policy", help="Compatibility policy TOML (default: the shipped one).", dir_okay=False
    ),
]


def _load(schemas_dir: Path | None, policy_file: Path | None) -> tuple[Catalog, Policy]:
    return load_catalog(schemas_dir), load_policy(policy_file)


def _print_violations(violations: list[Violation]) -> None:
    for violation in violations:
        # Plain text: subjects and rules are printed in [brackets], which rich would eat as markup.
        err_console.print(Text("✗ ", style="bold red") + Text(str(violation)), soft_wrap=True)


def _registry_failure(error: RegistryError) -> None:
    err_console.print(Text("error ", style="bold red") + Text(str(error)), soft_wrap=True)
    raise typer.Exit(1)


@app.command()
def check(
    schemas_dir: SchemasDir = None,
    policy_file: PolicyFile = None,
    with_registry: Annotated[
        bool,
        typer.Option(
            "--registry",
            help="Also let the schema registry's own rules judge every unreleased version "
            "against its history, in a scratch group (CI does this).",
        ),
    ] = False,
) -> None:
    """Exit 1, naming subject, version, field and rule, if any contract rule is broken."""
    catalog, policy = _load(schemas_dir, policy_file)
    report = run_checks(catalog, policy)
    violations = list(report.violations)
    registry_note = ""
    if with_registry:
        try:
            with Registry.from_settings(get_settings()) as registry:
                result = registry_check(registry, catalog, policy)
        except RegistryError as error:
            _registry_failure(error)
        violations.extend(result.violations)
        registry_note = (
            f"; registry judged {len(result.checked)} candidate(s) in {result.scratch_group}"
            + ("" if result.cleaned_up else " (left behind: registry deletion is disabled)")
        )
    summary = (
        f"{report.schemas} schemas, {report.versions} versions, "
        f"{len(report.candidates)} unreleased{registry_note}"
    )
    if violations:
        _print_violations(sorted(set(violations)))
        err_console.print(
            f"[bold red]schemas check failed[/bold red]: {len(violations)} problem(s) in {summary}"
        )
        raise typer.Exit(1)
    console.print(f"[green]schemas check passed[/green]: {summary}")


@app.command()
def release(
    schemas_dir: Annotated[
        Optional[Path],
        typer.Option(
            "--schemas-dir",
            help="Schema tree to release (default: this checkout's).",
            file_okay=False,
        ),
    ] = None,
    policy_file: PolicyFile = None,
) -> None:
    """Freeze every unreleased version that passes `check`: record it in released.json."""
    root = schemas_dir or _repo_tree()
    catalog, policy = _load(root, policy_file)
    report = run_checks(catalog, policy)
    if not report.ok:
        _print_violations(report.violations)
        err_console.print("[bold red]nothing released[/bold red]: fix the problems above first")
        raise typer.Exit(1)
    added = manifest.release(catalog, root)
    for key in added:
        console.print(f"released {key}")
    console.print(f"[green]{len(added)} version(s) released[/green] in {root / 'released.json'}")


@app.command()
def register() -> None:
    """Register every subject and version in the schema registry with its rules (idempotent)."""
    catalog, policy = _load(None, None)
    try:
        with Registry.from_settings(get_settings()) as registry:
            done = register_all(registry, catalog, policy)
    except RegistryError as error:
        _registry_failure(error)
    table = Table("subject", "group", "version", "status")
    for item in done:
        status = "[green]created[/green]" if item.status == "created" else "unchanged"
        table.add_row(item.subject, item.group, str(item.version), status)
    console.print(table)
    created = sum(1 for item in done if item.status == "created")
    console.print(f"{len(done)} subject version(s) in the registry, {created} new")


@app.command(name="list")
def list_subjects(
    schemas_dir: SchemasDir = None,
    with_registry: Annotated[
        bool, typer.Option("--registry", help="Also show what the schema registry holds.")
    ] = False,
) -> None:
    """Every subject: kind, group, versions, compatibility mode (and registry state)."""
    catalog, policy = _load(schemas_dir, None)
    remote: dict[str, str] = {}
    if with_registry:
        try:
            with Registry.from_settings(get_settings()) as registry:
                for held in registered(registry, catalog):
                    rule = held.rules.get("COMPATIBILITY", "no rule")
                    versions = ", ".join(f"v{n}" for n in held.versions)
                    remote[held.subject] = f"{versions} ({rule})" if held.versions else "-"
        except RegistryError as error:
            _registry_failure(error)
    table = Table()
    table.add_column("subject", no_wrap=True)  # never truncated: it is what `show` takes
    for column in ["kind", "group", "versions", "mode", "released"]:
        table.add_column(column)
    if with_registry:
        table.add_column("registry")
    for subject, entry in catalog.subjects():
        mode = policy.mode_for(entry)
        pending = manifest.candidates(entry, catalog.released)
        released = "all" if not pending else f"not v{', v'.join(map(str, pending))}"
        row = [
            subject,
            entry.kind,
            entry.group,
            ", ".join(f"v{n}" for n in entry.version_numbers),
            mode.mode if mode else "-",
            released,
        ]
        table.add_row(*row, *([remote.get(subject, "-")] if with_registry else []))
    console.print(table)


@app.command()
def show(
    subject: Annotated[str, typer.Argument(help="Subject, record/table name or group/name.")],
    version: Annotated[Optional[int], typer.Option("--version", "-v", min=1)] = None,
    schemas_dir: SchemasDir = None,
    from_registry: Annotated[
        bool, typer.Option("--registry", help="Print what the schema registry holds instead.")
    ] = False,
) -> None:
    """One schema version (default: the latest) with its subjects, key, mode and fingerprint."""
    catalog, policy = _load(schemas_dir, None)
    try:
        entry = catalog.by_subject(subject)
        chosen = entry.version(version) if version else entry.latest
    except KeyError as error:
        err_console.print(f"[bold red]error[/bold red] {error.args[0]}")
        raise typer.Exit(1)
    mode = policy.mode_for(entry)
    released = catalog.released.get(chosen.release_key)
    facts = [
        ("subjects", ", ".join(entry.subjects)),
        ("kind / group", f"{entry.kind} / {entry.group}"),
        ("version", f"v{chosen.version} of {', '.join(f'v{n}' for n in entry.version_numbers)}"),
        ("file", chosen.path),
        ("compatibility", f"{mode.mode} — {mode.reason}" if mode else "-"),
        ("primary key", ", ".join(chosen.primary_key) or "-"),
        ("released", "yes" if released == chosen.fingerprint else "no (candidate)"),
        ("sha256", chosen.fingerprint),
    ]
    for label, value in facts:
        console.print(Text(f"{label:>14}: ", style="bold") + Text(value), soft_wrap=True)
    text = json.dumps(chosen.data, indent=2, ensure_ascii=False)
    if from_registry:
        try:
            with Registry.from_settings(get_settings()) as registry:
                text = fetch(registry, entry, entry.group, entry.subjects[0], chosen.version)
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except RegistryError as error:
            _registry_failure(error)
    console.print(Syntax(text, "json", word_wrap=True))


@app.command()
def ddl(
    database: Annotated[
        Optional[str],
        typer.Option("--database", "-d", help="realtime or warehouse (default: both)."),
    ] = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Create/extend the tables in the live database.")
    ] = False,
    diff: Annotated[
        bool, typer.Option("--diff", help="Compare the live database with the schemas.")
    ] = False,
) -> None:
    """Print the PostgreSQL DDL generated from the sink schemas (or apply it, or diff it)."""
    if database is not None and database not in DATABASES:
        err_console.print(
            f"[bold red]error[/bold red] --database must be one of {', '.join(DATABASES)}"
        )
        raise typer.Exit(2)
    chosen = [database] if database else list(DATABASES)
    catalog = load_catalog()
    settings = get_settings()
    if not apply and not diff:
        for name in chosen:
            typer.echo(render(catalog, name, settings.postgres_reader_user))
        return
    drift: list[str] = []
    for name in chosen:
        try:
            if apply:
                report = apply_ddl(settings, name, catalog)
                console.print(
                    f"[green]{name}[/green]: {len(report.created)} table(s) created, "
                    f"{len(report.added_columns)} column(s) added"
                )
                found = report.drift
            else:
                found = compare(expected_tables(catalog, name), describe_live(settings, name))
        except Exception as error:  # psycopg's errors: say which database, not a traceback
            err_console.print(f"[bold red]error[/bold red] {name}: {error}")
            raise typer.Exit(1)
        drift.extend(f"{name}: {line}" for line in found)
        if not found and diff:
            console.print(f"[green]{name}[/green]: matches the schemas")
    for line in drift:
        err_console.print(Text("✗ " + line), soft_wrap=True)
    if drift:
        raise typer.Exit(1)


def _repo_tree() -> Path:
    """The checkout's schema tree: `release` writes there, never into a build's copy."""
    start = Path(os.environ.get("GLOBALMART_REPO_ROOT", Path.cwd())).resolve()
    for folder in (start, *start.parents):
        if (folder / "pants.toml").exists() and (folder / REPO_TREE).is_dir():
            return folder / REPO_TREE
    err_console.print(
        f"[bold red]error[/bold red] no GlobalMart checkout (pants.toml + {REPO_TREE}) at or above "
        f"{start}; pass --schemas-dir"
    )
    raise typer.Exit(2)
