"""Logging set-up shared by every command: rich console output, UTC timestamps."""

from __future__ import annotations

import logging
import time

from rich.console import Console
from rich.logging import RichHandler

_CONFIGURED = False


def configure_logging(level: str = "INFO") -> None:
    """Route the root logger through rich, with UTC times; safe to call more than once."""
    global _CONFIGURED
    logging.Formatter.converter = time.gmtime
    root = logging.getLogger()
    root.setLevel(level.upper())
    if not _CONFIGURED:
        # stderr: standard output is for results (`--json` must print JSON and nothing else)
        handler = RichHandler(
            console=Console(stderr=True), show_path=False, log_time_format="%Y-%m-%dT%H:%M:%SZ"
        )
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        root.addHandler(handler)
        _CONFIGURED = True
    # Third-party chatter stays at WARNING unless asked for.
    # (httpx2: the registry client's HTTP library logs every request at INFO)
    for noisy in ("py4j", "kafka", "httpx", "httpx2", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
