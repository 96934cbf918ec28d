"""Shared Spark runtime for the stream and batch jobs: sessions, connectors, conventions."""
