"""Our own static files (packaged with the gateway) and the built front-end bundle.

`static/` holds hand-written pages, scripts and styles, served at `/static/`. Third-party front-end
code (GraphiQL and React) is never loaded from a CDN: `globalmart.gateway.assets` installs it from
the npm registry at provisioning time and bundles it into `<state>/opt/gateway-web/dist`, served at
`/static/vendor/`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def static_dir() -> Path:
    return Path(str(resources.files("globalmart.gateway") / "static"))


def static_text(name: str) -> str:
    return (resources.files("globalmart.gateway") / "static" / name).read_text(encoding="utf-8")
