"""The dashboard: server-rendered pages (Jinja2), readable without JavaScript, assets served
locally, with the same tokens and roles as the management API.

Signing in stores the API token in an HttpOnly cookie; in local mode (``modelyard ui``) the OS
user acts, as on the command line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from modelyard.core.errors import ModelyardError, NotFound, PermissionDenied
from modelyard.core.governance import Permission
from modelyard.registry.registry import Registry
from modelyard.security.access import Identity

HERE = Path(__file__).parent
COOKIE = "modelyard_token"
NAV = (("/", "Catalog"), ("/endpoints", "Endpoints"), ("/audit", "Audit"))

_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def dashboard_app(
    reg: Registry, root: str = "/ui", local_identity: Identity | None = None
) -> Starlette:
    """``local_identity`` set: no sign-in (single-user ``modelyard ui``); else tokens."""
    from modelyard.security.tokens import authenticate

    def page(
        request: Request, template_name: str, who: Identity | None, status: int = 200, **ctx: Any
    ) -> HTMLResponse:
        html = _env.get_template(template_name).render(
            root=root, nav=NAV, active=ctx.pop("active", None), who=who, **ctx
        )
        return HTMLResponse(html, status_code=status)

    def error_page(request: Request, who: Identity | None, exc: ModelyardError) -> HTMLResponse:
        """One error page for every failure, with the same status as the API would give."""
        return page(
            request,
            "error.html",
            who,
            status=exc.http_status,
            status_code=exc.http_status,
            message=exc.message,
            hint=exc.hint,
        )

    def identify(request: Request) -> Identity:
        if local_identity is not None:
            return local_identity
        token = request.cookies.get(COOKIE) or ""
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            token = header[7:].strip()
        if not token:
            raise PermissionDenied("sign in with an API token")
        return authenticate(reg.store, token)

    def view(
        fn: Callable[[Request, Identity], dict[str, Any]], template: str, active: str | None = None
    ) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            try:
                who = await run_in_threadpool(identify, request)
            except PermissionDenied:
                return RedirectResponse(f"{root}/login", status_code=303)
            try:
                who.require(Permission.READ, "read the dashboard")
                ctx = await run_in_threadpool(fn, request, who)
            except ModelyardError as exc:
                return error_page(request, who, exc)
            return page(request, template, who, active=active, **ctx)

        return endpoint

    def catalog(request: Request, who: Identity) -> dict[str, Any]:
        from modelyard.registry.catalog import catalog as build

        return {"entries": [dataclasses.asdict(e) | {"status": e.status} for e in build(reg)]}

    def version(request: Request, who: Identity) -> dict[str, Any]:
        from modelyard.registry.lineage import model_lineage
        from modelyard.store.governance import GovernanceStore
        from modelyard.web.lineage_svg import render

        graph = model_lineage(reg, request.path_params["ref"])
        mv = reg.model_version(request.path_params["ref"])
        return {
            "g": graph,
            "svg": render(graph),
            "approvals": GovernanceStore(reg.store).decisions(mv.id),
        }

    def endpoints(request: Request, who: Identity) -> dict[str, Any]:
        name = request.path_params.get("name")
        plans: dict[str, list[dict[str, Any]]] = {}
        for r in reg.store.routes(name):
            plans.setdefault(r["endpoint"], []).append(r)
        history = []
        if name:
            if not plans and reg.store.endpoint_generation(name) == 0:
                raise NotFound(f"no endpoint {name!r}")
            history = [
                e
                for e in reg.store.audit_entries(target_prefix=f"endpoint:{name}")
                if e["target"] == f"endpoint:{name}"
            ][::-1]
        return {"plans": sorted(plans.items()), "name": name, "history": history}

    def audit(request: Request, who: Identity) -> dict[str, Any]:
        from modelyard.security.audit import history, verify

        q = request.query_params
        filters = {k: (q.get(k) or None) for k in ("model", "actor", "action")}
        key = reg.store.signer.public_key() if reg.store.signer is not None else None
        entries = history(
            reg.store, filters["model"], actor=filters["actor"], action=filters["action"], limit=500
        )
        return {"entries": entries[::-1], "verify": verify(reg.store, key), "filters": filters}

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return page(request, "login.html", None)
        # a one-field form: parsed here rather than adding python-multipart for it
        from urllib.parse import parse_qs

        body = (await request.body())[:4096].decode("utf-8", "replace")
        token = (parse_qs(body).get("token") or [""])[0].strip()
        try:
            await run_in_threadpool(authenticate, reg.store, token)
        except PermissionDenied as exc:
            return page(request, "login.html", None, status=401, error=exc.message)
        resp = RedirectResponse(f"{root}/", status_code=303)
        resp.set_cookie(COOKIE, token, httponly=True, samesite="strict", path=root or "/")
        return resp

    async def artifact(request: Request) -> Response:
        """Stored HTML reports, served from the artifact store (digest-verified)."""
        try:
            who = await run_in_threadpool(identify, request)
            who.require(Permission.READ, "read reports")
            digest = request.path_params["digest"]
            known = {
                r["html_digest"] for v in reg.model_versions() for r in reg.store.reports_of(v.id)
            }
            if digest not in known:
                raise NotFound(f"no report {digest}")
            data = await run_in_threadpool(reg.artifacts.get, digest)
        except PermissionDenied:
            return RedirectResponse(f"{root}/login", status_code=303)
        except ModelyardError as exc:
            return error_page(request, None, exc)
        return HTMLResponse(data.decode("utf-8"))

    def action(
        permission: Permission, run: Callable[[Request, Identity, dict[str, str]], str]
    ) -> Callable[[Request], Any]:
        """A management action from a form: same permission table as the API."""

        async def endpoint(request: Request) -> Response:
            from urllib.parse import parse_qs

            try:
                who = await run_in_threadpool(identify, request)
            except PermissionDenied:
                return RedirectResponse(f"{root}/login", status_code=303)
            body = (await request.body())[:8192].decode("utf-8", "replace")
            form = {k: v[0] for k, v in parse_qs(body).items()}
            try:
                who.require(permission)
                target = await run_in_threadpool(run, request, who, form)
            except ModelyardError as exc:
                return error_page(request, who, exc)
            return RedirectResponse(f"{root}{target}", status_code=303)

        return endpoint

    def approve(request: Request, who: Identity, form: dict[str, str]) -> str:
        from modelyard.security.approvals import approve as do_approve

        ref = request.path_params["ref"]
        do_approve(reg, ref, who.name, form.get("comment", ""))
        return f"/models/{ref}"

    def rollback(request: Request, who: Identity, form: dict[str, str]) -> str:
        from modelyard.core.errors import InvalidInput
        from modelyard.rollout.operations import rollback as do_rollback

        name = request.path_params["name"]
        reason = form.get("reason", "").strip()
        if not reason:
            raise InvalidInput("a rollback needs a reason")
        do_rollback(reg, name, reason, actor=who.name)
        return f"/endpoints/{name}"

    routes = [
        Route("/", view(catalog, "catalog.html", "/")),
        Route("/models/{ref}/approve", action(Permission.APPROVE, approve), methods=["POST"]),
        Route("/endpoints/{name}/rollback", action(Permission.DEPLOY, rollback), methods=["POST"]),
        Route("/models/{ref}", view(version, "version.html")),
        Route("/endpoints", view(endpoints, "endpoints.html", "/endpoints")),
        Route("/endpoints/{name}", view(endpoints, "endpoints.html", "/endpoints")),
        Route("/audit", view(audit, "audit.html", "/audit")),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/artifacts/{digest}", artifact),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    return Starlette(routes=routes)
