"""How the gateway is served: the uvicorn settings `serve`, the gateway PEX and `bench api` share.

uvloop (libuv's event loop) and httptools (the C HTTP/1.1 parser) cut the CPU of a cached hit by
about a quarter against asyncio's loop and h11. They are named, not left to uvicorn's "auto",
so a build that lost them fails at start instead of silently serving slower.
"""

from __future__ import annotations

from typing import Any

# uvicorn loads both by name; these imports let Pants see (and pack) them, and make a build
# that lost them fail here, naming the package
import httptools  # noqa: F401
import uvloop  # noqa: F401

from globalmart.core.settings import Settings

APP = "globalmart.gateway.app:app_factory"
LOOP = "uvloop"
HTTP = "httptools"


def uvicorn_options(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments of `uvicorn.run` for the gateway."""
    return {
        "factory": True,
        "host": settings.api_host,
        "port": settings.api_port,
        "log_level": settings.log_level.lower(),
        "loop": LOOP,
        "http": HTTP,
        **overrides,
    }
