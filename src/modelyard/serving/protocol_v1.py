"""KServe V1: ``{"instances": [...]}`` or ``{"inputs": ...}`` in, ``{"predictions": [...]}`` out.

Instances may be objects keyed by feature name or lists in signature order; ``inputs`` may
also be columnar (``{"feature": [values…]}``). The answer carries ``predictions`` (the
``predict`` output), plus ``id`` (the prediction id) and ``model_version``.
"""

from __future__ import annotations

from typing import Any

import orjson

from modelyard.core.errors import InvalidInput
from modelyard.serving.errors import MalformedRequest
from modelyard.serving.predictor import Answer
from modelyard.serving.schema import Payload

WANT = frozenset({"predict"})


def decode(body: bytes) -> Payload:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequest(
            f"request body is not valid JSON: {exc}",
            hint='send {"instances": [{"feature": value, …}, …]}',
        ) from None
    if not isinstance(doc, dict):
        raise InvalidInput(
            f'expected a JSON object with "instances" or "inputs", got {type(doc).__name__}'
        )
    keys = [k for k in ("instances", "inputs") if k in doc]
    if len(keys) != 1:
        raise InvalidInput(
            'expected exactly one of "instances" or "inputs" at the top level'
            + (f", got keys {sorted(doc)[:6]}" if doc else ", got an empty object"),
            hint='send {"instances": [{"feature": value, …}, …]}',
        )
    where = keys[0]
    data = doc[where]
    if isinstance(data, dict):
        for name, col in data.items():
            if not isinstance(col, list):
                raise InvalidInput(
                    f"{where}.{name}: expected a list of values (columnar inputs), "
                    f"got {type(col).__name__}"
                )
        return Payload("columns", data, where)
    if not isinstance(data, list):
        raise InvalidInput(f"{where}: expected a list of instances, got {type(data).__name__}")
    if data and isinstance(data[0], dict):
        return Payload("records", data, where)
    return Payload("rows", data, where)


def encode_explanation(
    result: dict[str, Any], names: tuple[str, ...], version: str, prediction_id: str
) -> bytes:
    """``{"explanations": [{"base", "contributions": {feature: value}}…], "space", …}``.

    ``result`` holds ``contributions`` (rows, outputs, features), ``base`` (outputs,), the
    ``space`` they sum to, and optionally ``method``, ``aggregated`` (how encoded columns were
    summed back to input features) and ``outputs`` (class labels, one per output).
    """
    contrib = result["contributions"]  # (rows, outputs, features)
    base = result["base"].tolist()
    rows = []
    for per_row in contrib:
        outs = [dict(zip(names, c.tolist(), strict=True)) for c in per_row]
        if len(outs) == 1:
            rows.append({"base": base[0], "contributions": outs[0]})
        else:
            rows.append({"base": base, "contributions": outs})
    doc: dict[str, Any] = {
        "explanations": rows,
        "space": result["space"],
        "method": result.get("method", "exact (linear)"),
        "id": prediction_id,
        "model_version": version,
    }
    for key in ("aggregated", "outputs"):
        if result.get(key) is not None:
            doc[key] = result[key]
    return orjson.dumps(doc, default=str)


def encode(answer: Answer, prediction_id: str) -> bytes:
    pred = answer.outputs["predict"]
    values: Any = pred if pred.dtype.kind in "fiub" else pred.tolist()
    return orjson.dumps(
        {"predictions": values, "id": prediction_id, "model_version": answer.version.ref},
        option=orjson.OPT_SERIALIZE_NUMPY,
    )
