"""The `globalmart` command line (typer + rich)."""
