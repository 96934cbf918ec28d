"""Tests and helpers for the repository's `./pants` bootstrap script."""
