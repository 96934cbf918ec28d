"""Build the gateway's front-end bundles (GraphiQL, Chart.js) from npm, at provisioning time.

Nothing is loaded from a CDN at run time: `web/package.json` + `web/package-lock.json` pin GraphiQL,
React, Chart.js and esbuild; `ensure_assets` copies them with our entry scripts into
`<state>/opt/gateway-web/`, runs `npm ci` there (registry access needed once) and bundles
`dist/graphiql.js` + `dist/graphiql.css` (for /graphql) and `dist/charts.js` (for /dashboard),
served at /static/vendor/. A stamp of the inputs' hash skips the work when nothing changed; a file
lock keeps parallel processes (test runs, workers) from building into the same folder at once.
The built files are not committed (they are ~2 MB of third-party code under the MIT license:
GraphiQL, React, graphql-js, Chart.js); `esbuild --legal-comments` keeps their license notices in
`dist/*.js.LEGAL.txt`.

Run by hand: `python -m globalmart.gateway.assets` (the `serve` command runs it first).
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

from globalmart.core.settings import Settings, get_settings

WEB_FILES = ("package.json", "package-lock.json", "graphiql.entry.js", "charts.entry.js")
BUNDLE = ("graphiql.js", "graphiql.css", "charts.js")


class AssetsError(RuntimeError):
    pass


def web_root(settings: Settings) -> Path:
    return settings.globalmart_state_dir / "opt" / "gateway-web"


def _inputs() -> dict[str, bytes]:
    source = resources.files("globalmart.gateway") / "web"
    return {name: (source / name).read_bytes() for name in WEB_FILES}


def bundle_ready(dist: Path) -> bool:
    return all((dist / name).is_file() and (dist / name).stat().st_size > 0 for name in BUNDLE)


def ensure_assets(settings: Settings | None = None, log: object = print) -> Path:
    """Build the bundle if missing or stale; returns the dist folder."""
    settings = settings or get_settings()
    root = web_root(settings)
    dist = root / "dist"
    inputs = _inputs()
    digest = hashlib.sha256(b"".join(inputs[n] for n in WEB_FILES)).hexdigest()
    stamp = root / ".built"
    if bundle_ready(dist) and stamp.is_file() and stamp.read_text() == digest:
        return dist
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if bundle_ready(dist) and stamp.is_file() and stamp.read_text() == digest:
            return dist  # another process built it while we waited
        _build(root, dist, inputs, log)
        stamp.write_text(digest)
    return dist


def _build(root: Path, dist: Path, inputs: dict[str, bytes], log: object) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise AssetsError(
            "npm is needed once to build GraphiQL and Chart.js (Node.js 18+): install nodejs"
        )
    for name, content in inputs.items():
        (root / name).write_bytes(content)
    steps = [
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        [npm, "run", "build", "--silent"],
    ]
    for step in steps:
        log(f"gateway assets: {' '.join(step[1:3])} in {root}")  # type: ignore[operator]
        done = subprocess.run(step, cwd=root, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise AssetsError(
                f"`{' '.join(step[1:])}` failed in {root}:\n"
                f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )
    if not bundle_ready(dist):
        raise AssetsError(f"the build produced no {', '.join(BUNDLE)} in {dist}")


if __name__ == "__main__":
    try:
        print(ensure_assets())
    except AssetsError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
