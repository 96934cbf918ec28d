"""Logs go to standard error, so commands that print results (`--json`) keep stdout clean."""

from __future__ import annotations

import logging

import pytest

from globalmart.core.logs import configure_logging


def test_logs_go_to_stderr_and_request_chatter_is_quiet(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO")
    logging.getLogger("globalmart.example").info("hello from the log")
    logging.getLogger("httpx2").info("POST /subjects")
    captured = capsys.readouterr()
    assert "hello from the log" in captured.err
    assert "hello from the log" not in captured.out
    assert "POST /subjects" not in captured.err + captured.out
