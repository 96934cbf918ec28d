"""Pytest fixtures for tests that need live services.

A test declares what it needs with `live_stack("kafka", "postgres-realtime")`; a missing service is
started (shared across Pants' test processes) and, if that fails, the test fails with one line
saying what went wrong and how to start it by hand — never a cryptic connection error.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from globalmart.core.settings import Settings
from globalmart.stack.testing import StackUnavailable, ensure_running


@pytest.fixture(scope="session")
def live_stack() -> Callable[..., Settings]:
    def require(*names: str) -> Settings:
        try:
            return ensure_running(names)
        except StackUnavailable as error:
            pytest.fail(f"live services unavailable: {error}", pytrace=False)

    return require
