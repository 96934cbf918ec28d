from __future__ import annotations

from typer.testing import CliRunner

from globalmart.cli.serve_cmd import app


def test_serve_help_lists_host_and_port() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "--host" in result.output and "--port" in result.output


def test_serve_refuses_a_bad_port() -> None:
    result = CliRunner().invoke(app, ["--port", "not-a-number"])
    assert result.exit_code == 2
