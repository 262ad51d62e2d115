"""The dashboard: server-rendered pages (Jinja2), readable without JavaScript, assets served
locally, with the same tokens and roles as the management API.

Signing in (an API token; in local mode the per-launch secret in the URL ``modelyard ui``
prints, after which the OS user acts, as on the command line) starts a server-side session
(``ui_auth``). Every form carries the session's CSRF token and every POST passes
``ui_security``'s same-origin and body checks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from modelyard.core import records
from modelyard.core.errors import (
    InvalidInput,
    ModelyardError,
    NotFound,
    Unauthenticated,
)
from modelyard.core.governance import Permission
from modelyard.registry import access, queries
from modelyard.registry.registry import Registry
from modelyard.security.access import Identity
from modelyard.security.sessions import Session
from modelyard.serving.body_limit import BodyLimit
from modelyard.web.ui_auth import Auth, require_csrf
from modelyard.web.ui_security import REPORT_CSP, SecurityHeaders, check_same_origin, read_form

HERE = Path(__file__).parent
NAV = (
    ("/", "Catalog"),
    ("/endpoints", "Endpoints"),
    ("/monitoring", "Monitoring"),
    ("/alerts", "Alerts"),
    ("/review", "Review"),
    ("/audit", "Audit"),
)
LIVE_HOURS = 6.0  # the endpoint page's live charts cover this much
REFRESH_S = 30  # monitoring pages reload themselves (meta refresh) this often

_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def human_bytes(n: float | None) -> str:
    if n is None:
        return "—"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


_env.filters["bytes"] = human_bytes


def dashboard_app(
    reg: Registry,
    root: str = "/ui",
    local_identity: Identity | None = None,
    launch_token: str | None = None,
) -> Starlette:
    """``local_identity`` set: single-user ``modelyard ui``, entered once per browser through
    ``?token=<launch_token>`` (the secret of this launch, required then); else API tokens."""

    def page(
        request: Request,
        template_name: str,
        who: Identity | None,
        status: int = 200,
        session: Session | None = None,
        **ctx: Any,
    ) -> HTMLResponse:
        html = _env.get_template(template_name).render(
            root=root,
            nav=NAV,
            active=ctx.pop("active", None),
            who=who,
            session=session,
            csrf=ctx.pop("csrf", session.csrf if session else ""),
            **ctx,
        )
        return HTMLResponse(html, status_code=status)

    def error_page(
        request: Request, who: Identity | None, exc: ModelyardError, session: Session | None = None
    ) -> HTMLResponse:
        """One error page for every failure, with the same status as the API would give."""
        return page(
            request,
            "error.html",
            who,
            status=exc.http_status,
            session=session,
            status_code=exc.http_status,
            message=exc.message,
            hint=exc.hint,
        )

    auth = Auth(reg, root, local_identity, launch_token, page, error_page)

    def view(
        fn: Callable[[Request, Identity], dict[str, Any]], template: str, active: str | None = None
    ) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            if auth.entering(request):
                return await run_in_threadpool(auth.enter, request)
            try:
                who, session = await run_in_threadpool(auth.identify, request)
            except Unauthenticated:
                return auth.signed_out(request)
            try:
                who.require(Permission.READ, "read the dashboard")
                ctx = await run_in_threadpool(fn, request, who)
            except ModelyardError as exc:
                return error_page(request, who, exc, session)
            return page(request, template, who, session=session, active=active, **ctx)

        return endpoint

    def catalog(request: Request, who: Identity) -> dict[str, Any]:
        from modelyard.registry.catalog import catalog as build
        from modelyard.web.monitoring_view import drift_status

        entries = [dataclasses.asdict(e) | {"status": e.status} for e in build(reg)]
        return {
            "entries": entries,
            "drift": drift_status(reg),
            "with_cost": any(e.get("cost") for e in entries),
        }

    def version(request: Request, who: Identity) -> dict[str, Any]:
        from modelyard.registry.approvals import decisions
        from modelyard.registry.catalog import trust_of, trust_records
        from modelyard.registry.lineage import model_lineage
        from modelyard.web.lineage_svg import render

        graph = model_lineage(reg, request.path_params["ref"])
        mv = reg.model_version(request.path_params["ref"])
        return {
            "g": graph,
            "trust": trust_of(mv, trust_records(reg)),
            "svg": render(graph),
            "approvals": decisions(reg, mv),
        }

    def endpoints(request: Request, who: Identity) -> dict[str, Any]:
        name = request.path_params.get("name")
        plans: dict[str, list[records.Route]] = {}
        for r in queries.routes(reg, name):
            plans.setdefault(r.endpoint, []).append(r)
        history = []
        if name:
            if not plans and queries.route_generation(reg, name) == 0:
                raise NotFound(f"no endpoint {name!r}")
            history = [
                e
                for e in queries.audit_entries(reg, f"endpoint:{name}")
                if e.target == f"endpoint:{name}"
            ][::-1]
        live: list[str] = []
        rollouts: list[dict[str, Any]] = []
        if name:
            live, rollouts = endpoint_live(name)
        return {
            "plans": sorted(plans.items()),
            "name": name,
            "history": history,
            "live": live,
            "live_hours": LIVE_HOURS,
            "rollouts": rollouts,
        }

    def endpoint_live(name: str) -> tuple[list[str], list[dict[str, Any]]]:
        """Live traffic/error/latency charts of the last hours and the rollout history."""
        from modelyard.orchestration.canary import rollout_status
        from modelyard.web.monitoring_view import MonitoringView, markers_of, ops_charts

        view = MonitoringView(reg)
        since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=LIVE_HOURS)
        rows = view.results(name, since=since)
        notes = view.annotations(name, rows[0]["start"], rows[-1]["end"]) if rows else []
        try:
            rollouts = rollout_status(reg, name)[::-1]
        except NotFound:
            rollouts = []
        return ops_charts(rows, markers_of(notes)) if rows else [], rollouts

    def monitoring(request: Request, who: Identity) -> dict[str, Any]:
        from modelyard.web import monitoring_view as mv

        name = request.path_params.get("name")
        since = _since(request.query_params.get("hours"))
        ctx = mv.overview(reg, since) if name is None else mv.endpoint_page(reg, name, since)
        return ctx | {"hours": request.query_params.get("hours") or "", "refresh": REFRESH_S}

    def alerts(request: Request, who: Identity) -> dict[str, Any]:
        from modelyard.core.monitor_config import TIERS
        from modelyard.monitoring.action_log import actions_with_alerts
        from modelyard.monitoring.alerts import AlertBook
        from modelyard.monitoring.verdicts import monitored_endpoints

        q = request.query_params
        filters = {
            "state": q.get("state") or "open",
            "tier": q.get("tier") or "",
            "endpoint": q.get("endpoint") or "",
        }
        if filters["tier"] and filters["tier"] not in TIERS:
            raise InvalidInput(
                f"unknown alert tier {filters['tier']!r}",
                hint=f"expected one of {', '.join(TIERS)}",
            )
        rows = AlertBook.of(reg).find(filters["state"], filters["endpoint"] or None, limit=500)
        if filters["tier"]:
            rows = [a for a in rows if a.tier == filters["tier"]]
        return {
            "alerts": rows,
            "filters": filters,
            "tiers": TIERS,
            "states": ("open", "firing", "acknowledged", "resolved", "all"),
            "endpoints": monitored_endpoints(reg),
            "actions": actions_with_alerts(reg, filters["endpoint"] or None, limit=50),
        }

    def review(request: Request, who: Identity) -> dict[str, Any]:
        from modelyard.core.feedback_records import STATUSES
        from modelyard.monitoring.feedback import review_items
        from modelyard.monitoring.verdicts import monitored_endpoints
        from modelyard.web.monitoring_view import MonitoringView

        q = request.query_params
        filters = {"endpoint": q.get("endpoint") or "", "status": q.get("status") or "pending"}
        if filters["status"] not in STATUSES:
            raise InvalidInput(
                f"unknown review status {filters['status']!r}",
                hint=f"expected one of {', '.join(STATUSES)}",
            )
        view = MonitoringView(reg)
        found = review_items(reg, filters["endpoint"] or None, filters["status"], limit=200)
        items = [dataclasses.asdict(i) for i in found]  # with what the page shows added
        for item in items:
            item["ref"] = view.ref(item["version_id"])
            item["fields"] = _fields(item["input"])
            item["predicted"] = _predicted(item["output"])
        return {
            "items": items,
            "filters": filters,
            "statuses": STATUSES,
            "endpoints": monitored_endpoints(reg),
        }

    def audit(request: Request, who: Identity) -> dict[str, Any]:
        q = request.query_params
        filters = {k: (q.get(k) or None) for k in ("model", "actor", "action")}
        entries = access.audit_history(
            reg, filters["model"], actor=filters["actor"], action=filters["action"], limit=500
        )
        return {
            "entries": entries[::-1],
            "verify": access.verify_audit(reg),
            "filters": filters,
        }

    async def artifact(request: Request) -> Response:
        """Stored HTML reports, served from the artifact store (digest-verified)."""
        try:
            who, _ = await run_in_threadpool(auth.identify, request)
            who.require(Permission.READ, "read reports")
            digest = request.path_params["digest"]
            known = {
                r.html_digest for v in reg.model_versions() for r in queries.reports(reg, v.id)
            }
            if digest not in known:
                raise NotFound(f"no report {digest}")
            data = await run_in_threadpool(reg.artifacts.get, digest)
        except Unauthenticated:
            return auth.signed_out(request)
        except ModelyardError as exc:
            return error_page(request, None, exc)
        # stored HTML with its own inline styles: served in a script-less sandbox
        return HTMLResponse(data.decode("utf-8"), headers={"content-security-policy": REPORT_CSP})

    def action(
        permission: Permission, run: Callable[[Request, Identity, dict[str, str]], str]
    ) -> Callable[[Request], Any]:
        """A management action from a form: same permission table as the API."""

        async def endpoint(request: Request) -> Response:
            try:
                check_same_origin(request)  # before anything else, signed in or not
                who, session = await run_in_threadpool(auth.identify, request)
            except Unauthenticated:
                return auth.signed_out(request)
            except ModelyardError as exc:
                return error_page(request, None, exc)
            try:
                form = await read_form(request)
                require_csrf(session, form)
                who.require(permission)
                target = await run_in_threadpool(_on_behalf, who, run, request, form)
            except ModelyardError as exc:
                return error_page(request, who, exc, session)
            return RedirectResponse(f"{root}{target}", status_code=303)

        return endpoint

    def approve(request: Request, who: Identity, form: dict[str, str]) -> str:
        from modelyard.registry.approvals import approve as do_approve

        ref = request.path_params["ref"]
        do_approve(reg, ref, who, form.get("comment", ""))
        return f"/models/{ref}"

    def rollback(request: Request, who: Identity, form: dict[str, str]) -> str:
        from modelyard.core.errors import InvalidInput
        from modelyard.orchestration.operations import rollback as do_rollback

        name = request.path_params["name"]
        reason = form.get("reason", "").strip()
        if not reason:
            raise InvalidInput("a rollback needs a reason")
        do_rollback(reg, name, reason, actor=who.name)
        return f"/endpoints/{name}"

    def acknowledge(request: Request, who: Identity, form: dict[str, str]) -> str:
        from modelyard.monitoring.alerts import AlertBook
        from modelyard.monitoring.sinks import Dispatcher

        alert_id = _int_id(request.path_params["id"], "alert")
        reason = form.get("reason", "").strip()
        if not reason:
            raise InvalidInput("acknowledging an alert needs a reason (who is on it, and why)")
        event = AlertBook.of(reg).acknowledge(alert_id, who.name, reason)
        # the sinks hear of it as they do from `modelyard alerts ack` (failures are recorded
        # as deliveries, never raised)
        Dispatcher.of(reg).deliver([event])
        return _back(form.get("next"), "/alerts")

    def decide(request: Request, who: Identity, form: dict[str, str]) -> str:
        from modelyard.monitoring.feedback import decide, review_item

        item_id = _int_id(request.path_params["id"], "review item")
        decision = form.get("decision", "")
        label: Any = None
        if decision == "correct":
            item = review_item(reg, item_id)
            label = parse_label(form.get("label", ""), _predicted(item.output))
        decide(reg, item_id, decision, who.name, label)
        return _back(form.get("next"), "/review")

    routes = [
        Route("/", view(catalog, "catalog.html", "/")),
        Route("/monitoring", view(monitoring, "monitoring.html", "/monitoring")),
        Route("/monitoring/{name}", view(monitoring, "monitoring_endpoint.html", "/monitoring")),
        Route("/alerts", view(alerts, "alerts.html", "/alerts")),
        Route("/alerts/{id}/ack", action(Permission.DEPLOY, acknowledge), methods=["POST"]),
        Route("/review", view(review, "review.html", "/review")),
        Route("/review/{id}", action(Permission.FEEDBACK, decide), methods=["POST"]),
        Route("/models/{ref}/approve", action(Permission.APPROVE, approve), methods=["POST"]),
        Route("/endpoints/{name}/rollback", action(Permission.DEPLOY, rollback), methods=["POST"]),
        Route("/models/{ref}", view(version, "version.html")),
        Route("/endpoints", view(endpoints, "endpoints.html", "/endpoints")),
        Route("/endpoints/{name}", view(endpoints, "endpoints.html", "/endpoints")),
        Route("/audit", view(audit, "audit.html", "/audit")),
        Route("/login", auth.login, methods=["GET", "POST"]),
        Route("/logout", auth.logout, methods=["GET", "POST"]),
        Route("/artifacts/{digest}", artifact),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    limits = reg.config.http
    body_limit = Middleware(BodyLimit, limits.max_form_bytes, limits.body_timeout_s)
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders), body_limit])


# ---- small parsers for the pages' query strings and forms -----------------------------------
def _since(hours: str | None) -> dt.datetime | None:
    if not hours:
        return None
    try:
        value = float(hours)
    except ValueError:
        value = float("nan")
    if not (0 < value <= 24 * 366):
        raise InvalidInput(
            f"hours must be a number of hours between 0 and 8784, got {hours!r}",
            hint="e.g. ?hours=6 for the last six hours; leave it out for the newest windows",
        )
    return dt.datetime.now(dt.UTC) - dt.timedelta(hours=value)


def _on_behalf(
    who: Identity,
    run: Callable[[Request, Identity, dict[str, str]], str],
    request: Request,
    form: dict[str, str],
) -> str:
    """Run a form action with ``who``'s principal recorded in the audit entries it writes."""
    from modelyard.core.identity import acting

    with acting(who.principal):
        return run(request, who, form)


def _int_id(raw: str, what: str) -> int:
    from modelyard.core.refs import parse_id

    return parse_id(raw, what)


def _back(target: str | None, default: str) -> str:
    """Where a form returns: a dashboard path it names (never another site), else ``default``."""
    if target and re.fullmatch(r"/(alerts|review|monitoring)(/[\w.@-]+)?(\?[\w=&%.@-]*)?", target):
        return target
    return default


def _fields(value: Any) -> list[tuple[str, Any]]:
    """A logged input as (field, value) pairs: the first record of a list, or a mapping."""
    if isinstance(value, list):
        value = value[0] if value else {}
    if isinstance(value, dict):
        return [(str(k), v) for k, v in value.items()]
    return [("input", value)]


def _predicted(output: Any) -> Any:
    """The model's answer in a logged output (its first row), or None."""
    if isinstance(output, dict):
        pred = output.get("predict")
        if isinstance(pred, list):
            return pred[0] if len(pred) == 1 else (pred or None)
        return pred
    return output


def parse_label(text: str, example: Any) -> Any:
    """A corrected label typed in a form, as the type of the model's own answer (``1`` for an
    integer class, ``true`` for a boolean one), so it compares equal to predictions."""
    raw = text.strip()
    if not raw:
        raise InvalidInput("a correction needs the right label: the label field is empty")
    sample = example[0] if isinstance(example, list) and example else example
    try:
        if isinstance(sample, bool):
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return raw.lower() in ("true", "1")
        if isinstance(sample, int):
            return int(raw)
        if isinstance(sample, float):
            value = float(raw)
            if value != value:
                raise ValueError
            return value
    except ValueError:
        kind = {bool: "true or false", int: "a whole number", float: "a number"}[type(sample)]
        raise InvalidInput(
            f"label {raw!r} is not {kind}, as the model's answers are",
            hint=f"the model answered {sample!r} for this item",
        ) from None
    return raw
