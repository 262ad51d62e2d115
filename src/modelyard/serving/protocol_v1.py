"""KServe V1: ``{"instances": [...]}`` or ``{"inputs": ...}`` in, ``{"predictions": [...]}`` out.

Instances may be objects keyed by feature name or lists in signature order; ``inputs`` may
also be columnar (``{"feature": [values…]}``). The answer carries ``predictions`` (the
``predict`` output), plus ``id`` (the prediction id) and ``model_version``.

A request may ask for class probabilities with ``"parameters": {"probabilities": true}``
(KServe's scikit-learn server answers ``predict_proba`` instead of labels when configured so;
here the labels stay in ``predictions`` and the probabilities come beside them as
``probabilities`` (one list per instance, in the order of ``classes``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from modelyard.core.errors import InvalidInput
from modelyard.serving.errors import MalformedRequest
from modelyard.serving.frames import Payload
from modelyard.serving.predictor import Answer

WANT = frozenset({"predict"})
WANT_PROBA = frozenset({"predict", "predict_proba"})
PARAMETERS = ("probabilities",)


@dataclass(slots=True)
class V1Request:
    payload: Payload
    want: frozenset[str]  # labels; probabilities too when parameters.probabilities is true


def decode(body: bytes) -> Payload:
    return decode_request(body).payload


def decode_request(body: bytes) -> V1Request:
    """The instances, and the outputs asked for (labels; probabilities too when
    ``parameters.probabilities`` is true)."""
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
    return V1Request(_payload(doc), _wanted(doc.get("parameters")))


def _wanted(params: Any) -> frozenset[str]:
    if params is None:
        return WANT
    if not isinstance(params, dict):
        raise InvalidInput(
            f'parameters: expected an object such as {{"probabilities": true}}, got '
            f"{type(params).__name__}"
        )
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise InvalidInput(
            f"parameters.{unknown[0]}: unknown parameter; known: {', '.join(PARAMETERS)}"
        )
    proba = params.get("probabilities", False)
    if not isinstance(proba, bool):
        raise InvalidInput(
            f"parameters.probabilities: expected true or false, got {orjson.dumps(proba).decode()}"
        )
    return WANT_PROBA if proba else WANT


def _payload(doc: dict[str, Any]) -> Payload:
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


def encode(answer: Answer, prediction_id: str, want: frozenset[str] = WANT) -> bytes:
    pred = answer.outputs["predict"]
    # orjson serialises only C-contiguous arrays (XGBoost's predict_proba is a column view)
    values: Any = np.ascontiguousarray(pred) if pred.dtype.kind in "fiub" else pred.tolist()
    doc: dict[str, Any] = {
        "predictions": values,
        "id": prediction_id,
        "model_version": answer.version.ref,
    }
    if "predict_proba" in want:
        proba = answer.outputs.get("predict_proba")
        if proba is None:
            raise InvalidInput(
                f"{answer.version.ref} gives no class probabilities (it has no predict_proba)",
                hint='drop "parameters": {"probabilities": true} for this model',
            )
        doc["probabilities"] = np.ascontiguousarray(proba)
        doc["classes"] = answer.version.signature.get("classes")
    return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
