"""Shared pytest fixtures for tests under contracts/ (see globalmart.stack.fixtures)."""

from globalmart.stack.fixtures import *  # noqa: F401,F403
