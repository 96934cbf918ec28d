"""`stream` command paths that need no Spark: not running, stale pid files, bad names."""

from __future__ import annotations

import json
import os
from pathlib import Path

from typer.testing import CliRunner

from globalmart.cli import stream_cmd
from globalmart.core.settings import get_settings

cli = CliRunner()


def test_status_when_not_running_exits_3(tmp_path: Path) -> None:
    result = cli.invoke(stream_cmd.app, ["status", "--run-dir", str(tmp_path)])
    assert result.exit_code == 3
    assert "not running" in result.output
    as_json = cli.invoke(stream_cmd.app, ["status", "--json", "--run-dir", str(tmp_path)])
    assert json.loads(as_json.output)["running"] is False


def test_a_stale_pid_file_is_not_a_running_driver(tmp_path: Path) -> None:
    paths = stream_cmd.Paths(get_settings(), tmp_path)
    paths.pid.write_text(str(os.getpid()))  # alive, but not the stream driver
    assert stream_cmd.running_pid(paths) is None
    paths.pid.write_text("999999999")
    assert stream_cmd.running_pid(paths) is None
    result = cli.invoke(stream_cmd.app, ["stop", "--run-dir", str(tmp_path)])
    assert result.exit_code == 0 and "not running" in result.output
    assert not paths.pid.exists()


def test_unknown_job_names_are_refused(tmp_path: Path) -> None:
    for command in ("start", "stop"):
        result = cli.invoke(stream_cmd.app, [command, "nope", "--run-dir", str(tmp_path)])
        assert result.exit_code == 2, result.output
        assert "unknown job" in result.output


def test_the_cli_knows_the_five_jobs() -> None:
    from globalmart.stream.registry_jobs import all_jobs

    assert list(stream_cmd.JOBS) == list(all_jobs())
