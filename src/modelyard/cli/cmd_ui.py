"""`modelyard ui`: the dashboard over a store, without an inference server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelyard.cli.app import ProjectOpt, app, open_registry
from modelyard.terminal import render

DEFAULT_PROJECT = Path(".")


@app.command()
def ui(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=0, max=65535)] = 8765,
    tokens: Annotated[bool, typer.Option("--tokens", help="Require API tokens (sign-in).")] = False,
    project: ProjectOpt = DEFAULT_PROJECT,
) -> None:
    """Open the dashboard (catalog, lineage, endpoints, audit) for this project's store.

    Locally the OS user acts, as on the command line, from the browser that opens the printed
    URL (it carries a secret made for this launch); --tokens asks for an API token instead.
    Example: [bold]modelyard ui --port 8765[/] then open the http://127.0.0.1:8765/ui/?token=…
    URL it prints.
    """
    import secrets

    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import RedirectResponse
    from starlette.routing import Mount, Route

    from modelyard.security.access import local_identity
    from modelyard.web.ui import dashboard_app

    reg = open_registry(project)
    who = None if tokens else local_identity(reg.actor)
    launch = None if tokens else secrets.token_urlsafe(32)  # as notebook servers do
    dash = dashboard_app(reg, "/ui", who, launch)

    async def home(request: object) -> RedirectResponse:
        return RedirectResponse("/ui/")

    root = Starlette(routes=[Route("/", home), Mount("/ui", dash)])
    url = f"http://{host}:{port}/ui/" + (f"?token={launch}" if launch else "")
    render.console.print(f"dashboard: {url}  (Ctrl-C to stop)", soft_wrap=True)
    try:
        uvicorn.run(root, host=host, port=port, log_level="warning", access_log=False)
    finally:
        reg.close()
