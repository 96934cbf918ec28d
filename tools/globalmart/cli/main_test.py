from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from globalmart.cli.main import app

runner = CliRunner()

SUBCOMMANDS = [
    "stack",
    "schemas",
    "generate",
    "stream",
    "batch",
    "serve",
    "demo",
    "bench",
    "health",
]


def test_help_lists_every_subcommand() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    for name in SUBCOMMANDS:
        assert name in result.output


def test_stack_help_lists_its_verbs() -> None:
    result = runner.invoke(app, ["stack", "--help"])
    assert result.exit_code == 0
    for verb in ("up", "down", "status", "logs", "reset"):
        assert verb in result.output


def test_demo_takes_the_documented_flags() -> None:
    result = runner.invoke(app, ["demo", "--help"])
    assert result.exit_code == 0
    for flag in ("--rate", "--duration", "--users", "--products", "--seed"):
        assert flag in result.output


def test_bench_lists_every_benchmark() -> None:
    result = runner.invoke(app, ["bench", "--help"])
    assert result.exit_code == 0
    for name in ("generator", "stream", "batch", "api"):
        assert name in result.output


def test_missing_env_file_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--env-file", str(tmp_path / "missing.env"), "health"])
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_unknown_stack_component_is_rejected() -> None:
    result = runner.invoke(app, ["stack", "status", "no-such-thing"])
    assert result.exit_code == 1
    assert "unknown component" in result.output
