"""Standalone entry point of the gateway PEX (`./pants run services/globalmart/gateway:server`)."""

from __future__ import annotations

import uvicorn

from globalmart.core.settings import get_settings
from globalmart.gateway.server import APP, uvicorn_options


def main() -> None:
    uvicorn.run(APP, **uvicorn_options(get_settings()))


if __name__ == "__main__":
    main()
