"""The management API: every route declares the permission it needs, in one table.

Deny by default: a request without a valid token, or whose role lacks the route's permission, is
refused before any service runs. Errors have one JSON shape ``{"error", "code", "hint"}``, mapped
from the error taxonomy in one place. Blocking store calls run in Starlette's thread pool.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from modelyard.core.errors import InvalidInput, ModelyardError, NotFound, Unauthenticated
from modelyard.core.governance import AccessRole, Permission
from modelyard.core.identity import acting
from modelyard.core.lifecycle import Role
from modelyard.core.refs import parse_id
from modelyard.registry import access, queries
from modelyard.registry.registry import Registry
from modelyard.security.access import Identity
from modelyard.serving.body_limit import BodyLimit

PREFIX = "/api/v1"


def _default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


class JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(content, default=_default, separators=(",", ":")).encode()


def error_response(exc: ModelyardError) -> Response:
    """The one error shape, with the status the taxonomy gives the error."""
    return JSON(exc.to_dict(), status_code=exc.http_status)


Handler = Callable[[Registry, Identity, Request, dict[str, Any]], Any]


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    permission: Permission
    summary: str
    handler: Handler
    body: tuple[str, ...] = ()  # required JSON body fields


# ---- handlers (thin: parse, call a service, return data) --------------------------------------
def _catalog(reg: Registry, who: Identity, req: Request, body: dict[str, Any]) -> Any:
    from modelyard.registry.catalog import catalog

    return [{**dataclasses.asdict(e), "status": e.status} for e in catalog(reg)]


def _models(reg: Registry, who: Identity, req: Request, body: dict[str, Any]) -> Any:
    return [
        {
            "ref": v.ref,
            "state": v.state,
            "flavor": v.flavor,
            "owner": v.card.get("owner"),
            "digest": v.artifact_digest,
            "created_at": v.created_at,
        }
        for v in reg.model_versions(req.query_params.get("name"))
    ]


def _model(reg: Registry, who: Identity, req: Request, body: dict[str, Any]) -> Any:
    mv = reg.model_version(req.path_params["ref"])
    return {**dataclasses.asdict(mv), "ref": mv.ref}


def _lineage(reg: Registry, who: Identity, req: Request, body: dict[str, Any]) -> Any:
    from modelyard.registry.lineage import model_lineage

    return model_lineage(reg, req.path_params["ref"])


def _prediction(reg: Registry, who: Identity, req: Request, body: dict[str, Any]) -> Any:
    from modelyard.orchestration.prediction_lineage import prediction_lineage

    return prediction_lineage(
        reg, req.path_params["prediction_id"], req.query_params.get("endpoint") or None
    )


def _datasets(reg: Registry, who: Identity, req: Request, body: dict[str, Any]) -> Any:
    return [
        {
            "ref": d.ref,
            "digest": d.digest,
            "rows": d.n_rows,
            "columns": d.n_cols,
            "created_at": d.created_at,
        }
        for d in reg.datasets(req.query_params.get("name"))
    ]


def _endpoints(reg: Registry, who: Identity, req: Request, body: dict[str, Any]) -> Any:
    plans: dict[str, list[dict[str, Any]]] = {}
    for r in queries.routes(reg):
        plans.setdefault(r.endpoint, []).append(
            {
                "version": f"{r.model_name}@{r.version}",
                "role": r.role,
                "weight": r.weight,
            }
        )
    return [{"endpoint": k, "plan": v} for k, v in sorted(plans.items())]


def _audit(reg: Registry, who: Identity, req: Request, body: dict[str, Any]) -> Any:
    q = req.query_params
    limit = _int(q.get("limit", "200"), "limit")
    entries = access.audit_history(
        reg, q.get("model"), actor=q.get("actor"), action=q.get("action"), limit=limit
    )
    return [dataclasses.asdict(e) for e in entries]


def _audit_verify(reg: Registry, who: Identity, req: Request, body: dict[str, Any]) -> Any:
    return dataclasses.asdict(access.verify_audit(reg))


def _approve(reg: Registry, who: Identity, req: Request, body: dict[str, Any]) -> Any:
    from modelyard.registry.approvals import approve

    d = approve(reg, req.path_params["ref"], who, _str(body, "comment"))
    return {
        "ref": d.version.ref,
        "state": d.version.state,
        "approvals": d.approvals,
        "required": d.required,
    }


def _reject(reg: Registry, who: Identity, req: Request, body: dict[str, Any]) -> Any:
    from modelyard.registry.approvals import reject

    mv = reject(reg, req.path_params["ref"], who, _str(body, "comment"))
    return {"ref": mv.ref, "state": mv.state}


def _deploy(reg: Registry, who: Identity, req: Request, body: dict[str, Any]) -> Any:
    from modelyard.orchestration.operations import deploy

    weight = body.get("weight")
    number = isinstance(weight, int | float) and not isinstance(weight, bool)
    if weight is not None and not (number and 0 <= weight <= 1):  # NaN fails the comparison
        raise InvalidInput(f"weight must be a number between 0 and 1, got {weight!r}")
    mv = deploy(
        reg,
        _str(body, "version"),
        req.path_params["endpoint"],
        str(body.get("role", "production")),
        weight,
        f"deployed by {who.name}: {body.get('reason', 'via API')}",
        actor=who.name,
    )
    return {"ref": mv.ref, "state": mv.state}


def _rollback(reg: Registry, who: Identity, req: Request, body: dict[str, Any]) -> Any:
    from modelyard.orchestration.operations import rollback

    to = body.get("to")
    result = rollback(
        reg,
        req.path_params["endpoint"],
        _str(body, "reason"),
        to if isinstance(to, str) else None,
        actor=who.name,
    )
    return dataclasses.asdict(result)


def _retire(reg: Registry, who: Identity, req: Request, body: dict[str, Any]) -> Any:
    from modelyard.orchestration.operations import retire

    mv = retire(reg, req.path_params["ref"], _str(body, "reason"), actor=who.name)
    return {"ref": mv.ref, "state": mv.state}


def _token_create(reg: Registry, who: Identity, req: Request, body: dict[str, Any]) -> Any:
    from modelyard.security import tokens

    days = body.get("expires_days")
    tokens.check_expiry_days(days)
    owner = body.get("principal")
    if owner is not None and not isinstance(owner, str):
        raise InvalidInput(f"principal must be a string (a name or os:UID:NAME), got {owner!r}")
    tok = access.create_token(
        reg, _str(body, "name"), _str(body, "role"), who.name, days, principal=owner
    )
    return {
        "id": tok.id,
        "name": tok.name,
        "role": tok.role.value,
        "principal": tok.principal,
        "token": tok.secret,
        "expires_at": tok.expires_at,
    }


def _token_revoke(reg: Registry, who: Identity, req: Request, body: dict[str, Any]) -> Any:
    access.revoke_token(reg, req.path_params["name"], who.name)
    return {"revoked": req.path_params["name"]}


def _whoami(reg: Registry, who: Identity, req: Request, body: dict[str, Any]) -> Any:
    return {"name": who.name, "role": who.role.value, "principal": who.principal}


def _feedback(reg: Registry, who: Identity, req: Request, body: dict[str, Any]) -> Any:
    from modelyard.core.feedback_records import Label
    from modelyard.monitoring.feedback import add_labels, checked_label

    if "labels" in body:
        items = body["labels"]
        if not isinstance(items, list) or not items:
            raise InvalidInput("'labels' must be a non-empty list of {prediction_id, label}")
    elif "prediction_id" in body:
        items = [body]
    else:
        raise InvalidInput(
            'expected {"prediction_id": …, "label": …} or {"labels": [{…}, …]}',
            hint="the prediction id is the 'id' the server returned with the prediction",
        )
    labels: list[Label] = []
    for i, item in enumerate(items):
        where = f"labels[{i}]" if "labels" in body else "the body"
        if not isinstance(item, dict) or "label" not in item or "prediction_id" not in item:
            raise InvalidInput(f"{where}: expected an object with 'prediction_id' and 'label'")
        endpoint = item.get("endpoint")
        if endpoint is not None and not isinstance(endpoint, str):
            raise InvalidInput(f"{where}: 'endpoint' must be a string, got {endpoint!r}")
        labels.append(checked_label(item["prediction_id"], item["label"], endpoint, where))
    done = add_labels(reg, labels, "api", who.name)
    return dataclasses.asdict(done)


def _review_list(reg: Registry, who: Identity, req: Request, body: dict[str, Any]) -> Any:
    from modelyard.monitoring.feedback import review_items

    q = req.query_params
    items = review_items(
        reg,
        q.get("endpoint") or None,
        q.get("status", "pending"),
        _int(q.get("limit", "1000"), "limit"),
    )
    return [dataclasses.asdict(i) for i in items]


def _review_decide(reg: Registry, who: Identity, req: Request, body: dict[str, Any]) -> Any:
    from modelyard.monitoring.feedback import decide

    item_id = parse_id(req.path_params["item_id"], "review item")
    decision = _str(body, "decision")
    return dataclasses.asdict(decide(reg, item_id, decision, who.name, body.get("label")))


def _str(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"field {key!r} is required: expected a non-empty string")
    return value


def _int(text: str, key: str) -> int:
    if not text.isdigit() or not 0 < int(text) <= 10_000:
        raise InvalidInput(f"query parameter {key!r} must be an integer 1-10000, got {text!r}")
    return int(text)


R, W = "GET", "POST"
P = Permission
OPS: tuple[Op, ...] = (
    Op(R, "/whoami", P.READ, "the identity behind the token", _whoami),
    Op(R, "/catalog", P.READ, "models with owners, SLAs, traffic and ghosts", _catalog),
    Op(R, "/models", P.READ, "model versions (?name=)", _models),
    Op(R, "/models/{ref}", P.READ, "one model version", _model),
    Op(R, "/models/{ref}/lineage", P.READ, "lineage graph of a version", _lineage),
    Op(
        R,
        "/predictions/{prediction_id}",
        P.READ,
        "one prediction back to its version, run, data and label (?endpoint=)",
        _prediction,
    ),
    Op(R, "/datasets", P.READ, "dataset versions (?name=)", _datasets),
    Op(R, "/endpoints", P.READ, "endpoints and their plans", _endpoints),
    Op(R, "/audit", P.READ, "audit entries (?model=&actor=&action=&limit=)", _audit),
    Op(R, "/audit/verify", P.READ, "verify the audit chain", _audit_verify),
    Op(
        W, "/models/{ref}/approve", P.APPROVE, "approve a validated version", _approve, ("comment",)
    ),
    Op(W, "/models/{ref}/reject", P.APPROVE, "reject a version", _reject, ("comment",)),
    Op(W, "/models/{ref}/retire", P.RETIRE, "retire a version", _retire, ("reason",)),
    Op(W, "/endpoints/{endpoint}/deploy", P.DEPLOY, "route a version", _deploy, ("version",)),
    Op(
        W,
        "/endpoints/{endpoint}/rollback",
        P.DEPLOY,
        "roll back to last-known-good",
        _rollback,
        ("reason",),
    ),
    Op(W, "/feedback", P.FEEDBACK, "labels for prediction ids", _feedback),
    Op(R, "/review", P.FEEDBACK, "review queue (?endpoint=&status=&limit=)", _review_list),
    Op(
        W,
        "/review/{item_id}",
        P.FEEDBACK,
        "confirm or correct a queued prediction",
        _review_decide,
        ("decision",),
    ),
    Op(W, "/tokens", P.ADMIN, "create an API token", _token_create, ("name", "role")),
    Op("DELETE", "/tokens/{name}", P.ADMIN, "revoke an API token", _token_revoke),
)


def _endpoint(
    reg: Registry, op: Op, authenticate: Callable[[str], Identity]
) -> Callable[[Request], Awaitable[Response]]:
    from starlette.concurrency import run_in_threadpool

    async def endpoint(request: Request) -> Response:
        try:
            header = request.headers.get("authorization", "")
            if not header.lower().startswith("bearer "):
                raise Unauthenticated(
                    "missing credentials: send 'Authorization: Bearer <token>'",
                    hint="create a token with `modelyard token create`",
                )
            who = await run_in_threadpool(authenticate, header[7:].strip())
            who.require(op.permission, f"{op.method} {PREFIX}{op.path}")
            body: dict[str, Any] = {}
            if op.method != "GET":
                raw = await request.body()  # bounded: the BodyLimit wrapper refuses more
                if raw.strip():
                    try:
                        body = json.loads(raw)
                    except ValueError as exc:
                        raise InvalidInput(f"malformed JSON body: {exc}") from None
                    if not isinstance(body, dict):
                        raise InvalidInput("the JSON body must be an object")
            result = await run_in_threadpool(_as, who, op.handler, reg, request, body)
            return JSON(result)
        except ModelyardError as exc:
            return error_response(exc)

    return endpoint


def _as(who: Identity, handler: Handler, reg: Registry, req: Request, body: dict[str, Any]) -> Any:
    """Run ``handler`` on behalf of ``who``: audit entries it writes carry their principal."""
    with acting(who.principal):
        return handler(reg, who, req, body)


# ---- the OpenAPI description: what each parameter and body field accepts ---------------------
_TEXT: dict[str, Any] = {"type": "string", "minLength": 1}
_REF: dict[str, Any] = {
    "type": "string",
    "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]*(@([0-9]+|latest))?$",
}
_LIMIT: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": 10_000}
PARAMS: dict[str, dict[str, Any]] = {  # path parameters, by name (default: text)
    "ref": _REF,
    "item_id": {"type": "integer", "minimum": 1},
}
QUERY: dict[str, dict[str, dict[str, Any]]] = {  # query parameters, by route
    "/models": {"name": _TEXT},
    "/datasets": {"name": _TEXT},
    "/audit": {"model": _TEXT, "actor": _TEXT, "action": _TEXT, "limit": _LIMIT},
    "/review": {
        "endpoint": _TEXT,
        "status": {"enum": ["pending", "confirmed", "corrected", "all"]},
        "limit": _LIMIT,
    },
}
_LABEL: dict[str, Any] = {"oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}
FIELDS: dict[str, dict[str, dict[str, Any]]] = {  # body fields, by route (default: text)
    "/endpoints/{endpoint}/deploy": {
        "version": _REF,
        "role": {"enum": [r.value for r in Role]},
        "weight": {"type": "number", "minimum": 0, "maximum": 1},
        "reason": _TEXT,
    },
    "/endpoints/{endpoint}/rollback": {"reason": _TEXT, "to": _REF},
    "/feedback": {
        "prediction_id": {"type": "string", "minLength": 1, "maxLength": 64},
        "label": _LABEL,
        "endpoint": _TEXT,
    },
    "/review/{item_id}": {"decision": {"enum": ["confirm", "correct"]}, "label": _LABEL},
    "/tokens": {
        "name": _TEXT,
        "role": {"enum": [r.value for r in AccessRole]},
        "principal": {
            "type": "string",
            "pattern": "^(user:|os:[0-9]+:)?[A-Za-z0-9][A-Za-z0-9._@+-]*$",
        },
        "expires_days": {
            "type": "number",
            "minimum": 0,
            "exclusiveMinimum": True,
            "maximum": 36_600,
        },
    },
}


def openapi(ops: tuple[Op, ...] = OPS) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for op in ops:
        params = [
            {
                "name": p.strip("{}"),
                "in": "path",
                "required": True,
                "schema": PARAMS.get(p.strip("{}"), {"type": "string"}),
            }
            for p in op.path.split("/")
            if p.startswith("{")
        ]
        params += [
            {"name": name, "in": "query", "required": False, "schema": schema}
            for name, schema in QUERY.get(op.path, {}).items()
        ]
        entry: dict[str, Any] = {
            "summary": op.summary,
            "description": f"Requires the '{op.permission.value}' permission.",
            "parameters": params,
            "security": [{"bearer": []}],
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": {}}}},
                "401": {"$ref": "#/components/responses/Error"},
                "403": {"$ref": "#/components/responses/Error"},
                "404": {"$ref": "#/components/responses/Error"},
                "409": {"$ref": "#/components/responses/Error"},
                "422": {"$ref": "#/components/responses/Error"},
            },
        }
        fields = {k: _TEXT for k in op.body} | FIELDS.get(op.path, {})
        if fields:
            entry["requestBody"] = {
                "required": bool(op.body),
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": list(op.body),
                            "properties": fields,
                        }
                    }
                },
            }
        paths.setdefault(PREFIX + op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.0.3",
        "info": {"title": "modelyard management API", "version": "1"},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {
                "Error": {
                    "description": "error",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["error", "code"],
                                "properties": {
                                    "error": {"type": "string"},
                                    "code": {"type": "string"},
                                    "hint": {"type": "string"},
                                },
                            }
                        }
                    },
                }
            },
        },
    }


def management_app(reg: Registry) -> Starlette:
    def auth(token: str) -> Identity:
        return access.authenticate(reg, token)

    routes = [Route(PREFIX + op.path, _endpoint(reg, op, auth), methods=[op.method]) for op in OPS]
    doc = openapi()

    async def spec(request: Request) -> Response:
        return JSON(doc)

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        code = "not_found" if status == 404 else "method_not_allowed"
        return JSON(
            {"error": f"no route {request.method} {request.url.path}", "code": code},
            status_code=status,
        )

    routes.append(Route(PREFIX + "/openapi.json", spec, methods=["GET"]))
    limits = reg.config.http
    return Starlette(
        routes=routes,
        exception_handlers={404: not_found, 405: not_found},
        middleware=[Middleware(BodyLimit, limits.max_form_bytes, limits.body_timeout_s)],
    )


__all__ = ["OPS", "PREFIX", "NotFound", "management_app", "openapi"]
