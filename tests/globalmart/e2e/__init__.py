"""End-to-end tests: the whole pipeline as a user runs it."""
