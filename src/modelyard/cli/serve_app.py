"""Compose what `modelyard serve` answers: inference routes (the serving layer), plus the
management API (``/api/...``) and the dashboard (``/ui/...``) from the web layer, both behind
API tokens. Composition lives here, in the adapter layer, so serving never imports web."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from modelyard.registry.registry import Registry
from modelyard.serving.server import SPEC_ENV, ServeSpec, build_app

ASGI = Any


def compose(reg: Registry, serving: ASGI) -> ASGI:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from modelyard.web.api import management_app
    from modelyard.web.ui import dashboard_app

    api = management_app(reg)
    ui = Starlette(routes=[Mount("/ui", dashboard_app(reg, "/ui", None))])

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith("/api/"):
                await api(scope, receive, send)
                return
            if path == "/ui" or path.startswith("/ui/"):
                await ui(scope, receive, send)
                return
        await serving(scope, receive, send)

    return app


def app_from_env() -> ASGI:
    """uvicorn worker factory: each worker builds its own app from the parent's spec."""
    raw = json.loads(os.environ[SPEC_ENV])
    if raw.get("endpoints") is not None:
        raw["endpoints"] = tuple(raw["endpoints"])
    spec = ServeSpec(**raw)
    reg = Registry.open(Path(spec.project), dict(os.environ))
    return compose(reg, build_app(reg, spec, close_registry=True))


def run(
    spec: ServeSpec, host: str, port: int, workers: int, tls: tuple[str, str] | None = None
) -> None:
    import dataclasses

    import uvicorn

    from modelyard.serving import logs
    from modelyard.serving.server import uvicorn_options

    logs.configure(spec.log_level)
    options = uvicorn_options(host, port, "warning")
    if tls:
        options.update(ssl_certfile=tls[0], ssl_keyfile=tls[1])
    if workers <= 1:
        reg = Registry.open(spec.project, dict(os.environ))
        app = compose(reg, build_app(reg, spec, close_registry=True))
        uvicorn.Server(uvicorn.Config(app, **options)).run()
        return
    os.environ[SPEC_ENV] = json.dumps(dataclasses.asdict(spec))
    uvicorn.run("modelyard.cli.serve_app:app_from_env", factory=True, workers=workers, **options)
