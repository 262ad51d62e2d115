"""Compose what `modelyard serve` answers: inference routes (the serving layer), plus the
management API (``/api/...``) and the dashboard (``/ui/...``) from the web layer, both behind
API tokens, and live monitoring (``monitoring.enabled`` in the project file, the default): a
``LiveMonitor`` observes every answer and writes this replica's windows. Composition lives
here, in the adapter layer, so serving never imports web or monitoring."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from modelyard.registry.registry import Registry
from modelyard.serving.stack import SPEC_ENV, ServeSpec, build_app

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


def serving_app(reg: Registry, spec: ServeSpec, worker: bool = False) -> ASGI:
    """The serving app of one replica, with its observers: live monitoring windows when the
    project enables them, and the human review queue when ``monitoring.review`` asks for one.

    ``worker``: one of several ``--workers`` processes; each is its own replica (its pid is
    part of the replica id even when ``MODELYARD_REPLICA`` is set)."""
    observers: list[Any] = []
    cfg = reg.config.monitoring
    if cfg.enabled:
        from modelyard.monitoring.live import LiveMonitor, replica_id

        observers.append(LiveMonitor(reg, replica=replica_id(os.environ, worker=worker)))
    if cfg.review.confidence_below is not None or cfg.review.sample > 0:
        from modelyard.monitoring.review import ReviewQueue

        observers.append(ReviewQueue(reg, seed=os.getpid() if worker else 0))
    if not observers:
        return build_app(reg, spec, close_registry=True)
    return build_app(
        reg,
        spec,
        close_registry=True,
        observers=observers,
        on_startup=[o.start for o in observers],
        on_shutdown=[o.stop for o in observers],
    )


def app_from_env() -> ASGI:
    """uvicorn worker factory: each worker builds its own app from the parent's spec."""
    raw = json.loads(os.environ[SPEC_ENV])
    if raw.get("endpoints") is not None:
        raw["endpoints"] = tuple(raw["endpoints"])
    spec = ServeSpec(**raw)
    reg = Registry.open(Path(spec.project), dict(os.environ))
    return compose(reg, serving_app(reg, spec, worker=True))


def run(
    spec: ServeSpec, host: str, port: int, workers: int, tls: tuple[str, str] | None = None
) -> None:
    import dataclasses

    import uvicorn

    from modelyard.serving import logs
    from modelyard.serving.stack import uvicorn_options

    logs.configure(spec.log_level)
    options = uvicorn_options(host, port, "warning")
    if tls:
        options.update(ssl_certfile=tls[0], ssl_keyfile=tls[1])
    if workers <= 1:
        reg = Registry.open(spec.project, dict(os.environ))
        app = compose(reg, serving_app(reg, spec))
        uvicorn.Server(uvicorn.Config(app, **options)).run()
        return
    os.environ[SPEC_ENV] = json.dumps(dataclasses.asdict(spec))
    uvicorn.run("modelyard.cli.serve_app:app_from_env", factory=True, workers=workers, **options)
