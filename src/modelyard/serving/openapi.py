"""The OpenAPI description of every route, and V2 model metadata.

``ROUTES`` is the single list of what ``app.ServingApp`` serves; a test checks each one
answers and that the document lists them all.
"""

from __future__ import annotations

from typing import Any

from modelyard.serving.endpoint import Endpoint
from modelyard.serving.predictor import VersionPredictor
from modelyard.serving.protocol_v2 import DTYPES

# (method, path, summary, request body schema name or None)
ROUTES: tuple[tuple[str, str, str, str | None], ...] = (
    ("POST", "/v1/models/{name}:predict", "KServe V1 prediction", "V1Request"),
    (
        "POST",
        "/v1/models/{name}:explain",
        "Per-feature contributions from the champion (exact for linear models, TreeSHAP for "
        "tree ensembles with the explain extra)",
        "V1Request",
    ),
    ("POST", "/v2/models/{name}/infer", "Open Inference Protocol V2 inference", "V2Request"),
    (
        "POST",
        "/v2/models/{name}/versions/{version}/infer",
        "V2 inference on one version of the endpoint's plan (bypasses routing)",
        "V2Request",
    ),
    ("GET", "/v1/models", "Endpoints served", None),
    ("GET", "/v1/models/{name}", "An endpoint's readiness and plan", None),
    ("GET", "/v2", "Server metadata", None),
    ("GET", "/v2/health/live", "Liveness", None),
    ("GET", "/v2/health/ready", "Readiness (plans loaded)", None),
    ("GET", "/v2/models/{name}", "Model metadata (the endpoint's default version)", None),
    ("GET", "/v2/models/{name}/ready", "Endpoint readiness", None),
    ("GET", "/v2/models/{name}/versions/{version}", "Metadata of one version in the plan", None),
    ("GET", "/v2/models/{name}/versions/{version}/ready", "Readiness of one version", None),
    ("GET", "/metrics", "Prometheus metrics", None),
    ("GET", "/openapi.json", "This document", None),
    ("GET", "/healthz", "Liveness (plain)", None),
    ("GET", "/", "Index: endpoints served", None),
)

# routes that check a presented token (status details, /metrics) besides the inference ones
_TOKEN_ROUTES = frozenset(
    p
    for m, p, _, body in ROUTES
    if m == "GET" and (p.startswith(("/v1/models", "/v2/models/")) or p in ("/", "/metrics"))
)

DATATYPES = [
    "BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64",
    "FP16", "FP32", "FP64", "BYTES",
]  # fmt: skip
_ERROR = {
    "type": "object",
    "required": ["error", "code"],
    "properties": {
        "error": {"type": "string", "description": "what was wrong, naming the field"},
        "code": {"type": "string"},
        "hint": {"type": "string"},
        "id": {"type": "string", "description": "prediction id (inference routes)"},
        "details": {"type": "object"},
    },
}
_TENSOR = {
    "type": "object",
    "required": ["name", "shape", "datatype"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}},
        "datatype": {
            "type": "string",
            "enum": [*DTYPES, "BYTES"],
        },
        "parameters": {"type": "object"},
        "data": {"type": "array"},
    },
}
SCHEMAS: dict[str, Any] = {
    "Error": _ERROR,
    "V1Request": {
        "type": "object",
        "description": "exactly one of instances / inputs",
        "properties": {
            "instances": {
                "type": "array",
                "items": {"oneOf": [{"type": "object"}, {"type": "array"}]},
            },
            "inputs": {"oneOf": [{"type": "array"}, {"type": "object"}]},
            "parameters": {
                "type": "object",
                "properties": {
                    "probabilities": {
                        "type": "boolean",
                        "description": "also answer class probabilities (classifiers)",
                    }
                },
                "additionalProperties": False,
            },
        },
    },
    "V1Response": {
        "type": "object",
        "properties": {
            "predictions": {"type": "array"},
            "probabilities": {
                "type": "array",
                "items": {"type": "array", "items": {"type": "number"}},
                "description": "with parameters.probabilities: one list per instance",
            },
            "classes": {"type": "array", "description": "the order of probabilities"},
            "id": {"type": "string"},
            "model_version": {"type": "string"},
        },
    },
    "V1Explanation": {
        "type": "object",
        "properties": {
            "explanations": {"type": "array", "items": {"type": "object"}},
            "space": {"type": "string"},
            "method": {"type": "string"},
            "id": {"type": "string"},
            "model_version": {"type": "string"},
        },
    },
    "Tensor": _TENSOR,
    "V2Request": {
        "type": "object",
        "required": ["inputs"],
        "description": "JSON, or with Inference-Header-Content-Length the binary tensor "
        "extension (JSON header followed by raw tensors)",
        "properties": {
            "id": {"type": "string"},
            "parameters": {"type": "object"},
            "inputs": {"type": "array", "items": {"$ref": "#/components/schemas/Tensor"}},
            "outputs": {"type": "array", "items": {"type": "object"}},
        },
    },
    "V2Response": {
        "type": "object",
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "parameters": {"type": "object"},
            "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/Tensor"}},
        },
    },
}


def document() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    err = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for method, path, summary, body in ROUTES:
        params = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
            for p in ("name", "version")
            if "{" + p + "}" in path
        ]
        op: dict[str, Any] = {"summary": summary, "parameters": params, "responses": {}}
        if body:
            op["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}
                },
            }
            answer = "V1Response" if body == "V1Request" else "V2Response"
            if path.endswith(":explain"):
                answer = "V1Explanation"
            op["responses"]["200"] = {
                "description": "the prediction; headers x-prediction-id and x-model-version",
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{answer}"}}
                },
            }
            for code, why in (
                ("401", "no, malformed, unknown, revoked or expired token (serving.auth: token)"),
                ("403", "the token's role lacks the 'predict' permission"),
                ("400", "malformed body"),
                ("413", "body or rows over the limit"),
                ("422", "input does not match the signature"),
                ("429", "throttled (Retry-After)"),
                ("500", "the model failed on valid input (with the prediction id)"),
                ("503", "no version routed / not ready"),
            ):
                op["responses"][code] = {"description": why, **err}
            op["security"] = [{}, {"bearer": []}]  # open with serving.auth: none
        else:
            op["responses"]["200"] = {"description": "OK"}
            if path in _TOKEN_ROUTES:
                op["responses"]["401"] = {"description": "a bad token, or none where needed", **err}
                op["security"] = [{}, {"bearer": []}]
        op["responses"]["404"] = {"description": "unknown endpoint or version", **err}
        paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "modelyard inference server", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an API token (`modelyard token create`); required when the "
                    "project file says serving.auth: token (serving.metrics_auth for /metrics)",
                }
            },
        },
    }


_V2_TYPE = {"float": "FP64", "integer": "INT64", "boolean": "BOOL", "string": "BYTES"}


def model_metadata(ep: Endpoint, vp: VersionPredictor) -> dict[str, Any]:
    """V2 metadata: one tensor per column, and the alternative single 2-D tensor."""
    schema = vp.schema
    out_sig = {o["name"]: o for o in vp.info.signature.get("outputs", [])}
    doc: dict[str, Any] = {
        "name": ep.name,
        "versions": [str(v) for v in sorted(ep.versions)],
        "platform": f"modelyard_{vp.info.flavor}",
        "inputs": [
            {"name": c.name, "datatype": _V2_TYPE.get(c.kind, "BYTES"), "shape": [-1]}
            for c in schema.columns
        ],
        "outputs": [
            {
                "name": name,
                "datatype": out_sig.get(name, {}).get("dtype", "FP64"),
                "shape": out_sig.get(name, {}).get("shape", [-1]),
            }
            for name in vp.outputs
        ],
        "parameters": {
            "model_version": vp.info.ref,
            "runtime": vp.runtime_kind,
            "input_forms": (
                "one tensor per input named as in 'inputs' (shape [n] or [n, 1])"
                + (
                    f", or a single 2-D FP32/FP64 tensor of shape [n, {schema.width}] with the "
                    "columns in the order of 'inputs'"
                    if schema.numeric
                    else ""
                )
            ),
            "columns": schema.describe(),
        },
    }
    return doc
