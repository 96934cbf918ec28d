"""The `generate` and `bench` command lines (argument handling; the runs themselves are covered
against the real broker in tests/globalmart/integration/generator_*_test.py)."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from globalmart.cli import bench_cmd, generate_cmd

runner = CliRunner()
app = typer.Typer()
app.add_typer(generate_cmd.app, name="generate")
app.add_typer(bench_cmd.app, name="bench")


def test_help_names_the_knobs() -> None:
    result = runner.invoke(app, ["generate", "--help"])
    assert result.exit_code == 0, result.output
    for option in ("--rate", "--duration", "--count", "--users", "--products", "--seed",
                   "--processes", "--mix", "--topic-prefix"):  # fmt: skip
        assert option in result.output
    assert "generator" in runner.invoke(app, ["bench", "--help"]).output


def test_bad_options_are_clear_errors_before_anything_is_sent() -> None:
    for args, message in [
        (["--mix", "1/2"], "--mix"),
        (["--users", "20000000"], "users must be"),
        (["--start-time", "noon"], "--start-time"),
        (["--serializer", "pickle"], "--serializer"),
        (["--producer", "linger.ms"], "KEY=VALUE"),
    ]:
        result = runner.invoke(app, ["generate", "--count", "5", *args])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)


def test_reference_sample_prints_records_from_ids_and_seed() -> None:
    result = runner.invoke(app, ["generate", "reference", "--sample", "2", "--reference-seed", "7"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r.get("country") for r in rows[:2]] == ["US", "GB"]
    assert rows[2]["category_id"] == "C001"
    assert rows[4]["user_id"] == "U00000001" and rows[6]["product_id"] == "P000001"
    again = runner.invoke(app, ["generate", "reference", "--sample", "2", "--reference-seed", "7"])
    assert again.output == result.output
