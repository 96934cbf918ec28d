"""`globalmart serve`: run the gateway (REST, GraphQL, registry browser, dashboard) with uvicorn."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from globalmart.cli.console import err_console, progress
from globalmart.core.settings import get_settings

app = typer.Typer(
    help="Serve the REST + GraphQL gateway and the web dashboard.",
    invoke_without_command=True,
    no_args_is_help=False,
)


@app.callback(invoke_without_command=True)
def serve(
    host: Annotated[
        Optional[str], typer.Option("--host", help="Address to bind (default: API_HOST).")
    ] = None,
    port: Annotated[
        Optional[int], typer.Option("--port", help="Port (default: API_PORT, 8000).")
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")] = 1,
    build_assets: Annotated[
        bool,
        typer.Option(
            "--build-assets/--no-build-assets",
            help="Build the GraphiQL bundle from npm first if it is missing (needs npm once).",
        ),
    ] = True,
) -> None:
    """Serve the gateway until interrupted."""
    import uvicorn

    # uvicorn imports the app by name (needed for --workers); importing it here also makes
    # Pants pack the gateway into the CLI's PEX, where `serve` would otherwise find nothing.
    import globalmart.gateway.app  # noqa: F401
    from globalmart.gateway.assets import AssetsError, ensure_assets
    from globalmart.gateway.server import APP, uvicorn_options

    settings = get_settings()
    if build_assets:
        try:
            ensure_assets(settings, log=progress)
        except AssetsError as error:
            err_console.print(f"[yellow]GraphiQL bundle not built[/yellow]: {error}")
    bind_host, bind_port = host or settings.api_host, port or settings.api_port
    err_console.print(
        f"gateway on http://{bind_host}:{bind_port}  (docs /docs, GraphQL /graphql, "
        "registry /registry, metrics /metrics)"
    )
    uvicorn.run(
        APP,
        **uvicorn_options(
            settings, host=bind_host, port=bind_port, workers=workers, proxy_headers=False
        ),
    )
