"""One rich console for the CLI, and a progress callback that prints timestamped steps."""

from __future__ import annotations

import time

from rich.console import Console

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def progress(message: str) -> None:
    """Print one step of long work (used as the stack's Progress callback)."""
    err_console.print(
        f"[dim]{time.strftime('%H:%M:%S', time.gmtime())}Z[/dim] {message}", soft_wrap=True
    )
