"""Standalone entry point of the gateway PEX (`./pants run services/globalmart/gateway:server`)."""

from __future__ import annotations

import uvicorn

from globalmart.core.settings import get_settings


def main() -> None:
    settings = get_settings()
    uvicorn.run(
        "globalmart.gateway.app:app_factory",
        factory=True,
        host=settings.api_host,
        port=settings.api_port,
        log_level=settings.log_level.lower(),
    )


if __name__ == "__main__":
    main()
