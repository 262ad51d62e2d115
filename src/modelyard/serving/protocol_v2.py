"""Open Inference Protocol (V2) with the binary tensor extension.

Requests: JSON ``{"id", "parameters", "inputs": [{name, shape, datatype, data}], "outputs"}``;
or, with the header ``Inference-Header-Content-Length: N``, N bytes of that JSON followed by
raw tensors (inputs carrying ``parameters.binary_data_size``, in input order; little-endian,
row-major; BYTES elements as a 4-byte little-endian length then the bytes). This is what
``tritonclient.http`` sends by default, with no Content-Type. Responses are binary for the
outputs the request asks so (``outputs[].parameters.binary_data`` or the request-level
``parameters.binary_data_output``), JSON otherwise.

A tabular model takes one tensor per column named as in its signature, or a single 2-D
tensor ``[n, d]`` in signature order (the schema decides which it got).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from modelyard.core.errors import InvalidInput
from modelyard.serving.errors import MalformedRequest
from modelyard.serving.frames import Payload
from modelyard.serving.predictor import Answer

DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype("?"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
_FLOAT_TYPES = frozenset({"FP16", "FP32", "FP64"})
_NUM = frozenset({int, float})


@dataclass
class V2Request:
    payload: Payload
    id: str | None
    want: frozenset[str] | None
    binary: frozenset[str]  # outputs to answer as binary
    binary_all: bool
    head_len: int | None = None  # of the answer's JSON header when it carries binary outputs


def decode(body: bytes, header_length: str | None) -> V2Request:
    raw = body
    blob = b""
    if header_length is not None:
        try:
            n = int(header_length)
        except ValueError:
            raise MalformedRequest(
                f"Inference-Header-Content-Length must be an integer, got {header_length!r}"
            ) from None
        if not 0 < n <= len(body):
            raise MalformedRequest(
                f"Inference-Header-Content-Length {n} is outside the body's {len(body)} bytes"
            )
        raw, blob = body[:n], body[n:]
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequest(f"request body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidInput(f'expected a JSON object with "inputs", got {type(doc).__name__}')
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInput('"inputs": expected a non-empty list of tensors')
    tensors: list[tuple[str, np.ndarray]] = []
    offset = 0
    seen: set[str] = set()
    for i, spec in enumerate(inputs):
        arr, used = _tensor(spec, i, blob, offset)
        offset += used
        name = spec["name"]
        if name in seen:
            raise InvalidInput(f"inputs[{i}]: tensor name {name!r} appears twice")
        seen.add(name)
        tensors.append((name, arr))
    if offset != len(blob):
        raise MalformedRequest(
            f"the binary part holds {len(blob)} bytes but the inputs declare {offset}"
        )
    params = doc.get("parameters") or {}
    if not isinstance(params, dict):
        raise InvalidInput('"parameters": expected an object')
    binary_all = params.get("binary_data_output") is True
    want: frozenset[str] | None = None
    binary: set[str] = set()
    outputs = doc.get("outputs")
    if outputs is not None:
        if not isinstance(outputs, list):
            raise InvalidInput('"outputs": expected a list of {"name": …}')
        names = []
        for j, out in enumerate(outputs):
            if not isinstance(out, dict) or not isinstance(out.get("name"), str):
                raise InvalidInput(f'outputs[{j}]: expected an object with a string "name"')
            names.append(out["name"])
            oparams = out.get("parameters") or {}
            if isinstance(oparams, dict) and oparams.get("binary_data") is True:
                binary.add(out["name"])
        want = frozenset(names) or None
    rid = doc.get("id")
    if rid is not None and not isinstance(rid, str):
        raise InvalidInput('"id": expected a string')
    return V2Request(
        Payload("tensors", tensors, "inputs"), rid, want, frozenset(binary), binary_all
    )


def _tensor(spec: Any, i: int, blob: bytes, offset: int) -> tuple[np.ndarray, int]:
    where = f"inputs[{i}]"
    if not isinstance(spec, dict):
        raise InvalidInput(f"{where}: expected a tensor object")
    name, shape, dtype = spec.get("name"), spec.get("shape"), spec.get("datatype")
    if not isinstance(name, str) or not name:
        raise InvalidInput(f'{where}: "name" must be a non-empty string')
    where = f"inputs[{i}] ({name!r})"
    if (
        not isinstance(shape, list)
        or not shape
        or not all(type(d) is int and d >= 0 for d in shape)
        or len(shape) > 2
    ):
        raise InvalidInput(f'{where}: "shape" must be [n] or [n, d] of non-negative integers')
    if not isinstance(dtype, str) or (dtype != "BYTES" and dtype not in DTYPES):
        raise InvalidInput(
            f'{where}: unknown "datatype" {dtype!r}; expected one of '
            f"{', '.join(sorted([*DTYPES, 'BYTES']))}"
        )
    count = math.prod(shape)
    params = spec.get("parameters") or {}
    size = params.get("binary_data_size") if isinstance(params, dict) else None
    if size is not None:
        if type(size) is not int or size < 0 or offset + size > len(blob):
            raise MalformedRequest(
                f"{where}: binary_data_size {size!r} does not fit the {len(blob) - offset} "
                "binary bytes left"
            )
        chunk = blob[offset : offset + size]
        if dtype == "BYTES":
            arr = _unpack_bytes(chunk, count, where)
        else:
            dt = DTYPES[dtype]
            if size != count * dt.itemsize:
                raise MalformedRequest(
                    f"{where}: binary_data_size {size} != {count} elements x {dt.itemsize} bytes "
                    f"for shape {shape} {dtype}"
                )
            arr = np.frombuffer(chunk, dtype=dt)
        return arr.reshape(shape), size
    data = spec.get("data")
    if not isinstance(data, list):
        raise InvalidInput(f'{where}: "data" must be a list (or use binary_data_size)')
    flat = _flatten(data, where)
    if len(flat) != count:
        raise InvalidInput(f"{where}: shape {shape} needs {count} values, got {len(flat)}")
    return _typed(flat, dtype, where).reshape(shape), 0


def _flatten(data: list[Any], where: str) -> list[Any]:
    """Row-major values: flat, or nested one level as rows (tensors here are at most 2-D)."""
    if not any(isinstance(item, list) for item in data):
        return data
    out: list[Any] = []
    for item in data:
        if not isinstance(item, list) or any(isinstance(v, list) for v in item):
            raise InvalidInput(f'{where}: "data" must be flat or a list of rows (2-D at most)')
        out.extend(item)
    return out


def _typed(flat: list[Any], dtype: str, where: str) -> np.ndarray:
    if dtype == "BYTES":
        for k, v in enumerate(flat):
            if not isinstance(v, str):
                raise InvalidInput(f"{where}: data[{k}]: expected a string for BYTES, got {v!r}")
        arr = np.empty(len(flat), dtype=object)
        arr[:] = flat
        return arr
    if dtype == "BOOL":
        for k, v in enumerate(flat):
            if type(v) is not bool:
                raise InvalidInput(f"{where}: data[{k}]: expected true/false for BOOL, got {v!r}")
        return np.array(flat, dtype=bool)
    ok = _NUM if dtype in _FLOAT_TYPES else frozenset({int})
    for k, v in enumerate(flat):
        if type(v) not in ok:
            what = "a number" if dtype in _FLOAT_TYPES else "an integer"
            raise InvalidInput(f"{where}: data[{k}]: expected {what} for {dtype}, got {v!r}")
    try:
        return np.array(flat, dtype=DTYPES[dtype])
    except OverflowError:
        raise InvalidInput(f"{where}: a value does not fit {dtype}") from None


def _unpack_bytes(chunk: bytes, count: int, where: str) -> np.ndarray:
    if count * 4 > len(chunk):  # every element has a 4-byte length: the shape cannot be right
        raise MalformedRequest(f"{where}: {len(chunk)} bytes cannot hold {count} BYTES elements")
    out = np.empty(count, dtype=object)
    pos = 0
    for k in range(count):
        if pos + 4 > len(chunk):
            raise MalformedRequest(f"{where}: BYTES element {k} is truncated")
        (n,) = struct.unpack_from("<I", chunk, pos)
        pos += 4
        if pos + n > len(chunk):
            raise MalformedRequest(f"{where}: BYTES element {k} is truncated")
        out[k] = chunk[pos : pos + n]
        pos += n
    if pos != len(chunk):
        raise MalformedRequest(f"{where}: {len(chunk) - pos} stray bytes after the BYTES data")
    return out


# ---- responses ------------------------------------------------------------------------------
def datatype(arr: np.ndarray) -> str:
    kind = arr.dtype.kind
    if kind == "b":
        return "BOOL"
    if kind in "iu":
        return "INT64"
    if kind == "f":
        return "FP64"
    return "BYTES"


def _pack_bytes(arr: np.ndarray) -> bytes:
    parts = []
    for v in arr.ravel().tolist():
        b = v if isinstance(v, bytes) else str(v).encode()
        parts.append(struct.pack("<I", len(b)) + b)
    return b"".join(parts)


def encode(
    answer: Answer,
    prediction_id: str,
    request_id: str | None,
    binary: frozenset[str],
    binary_all: bool,
) -> tuple[bytes, int | None]:
    """The response body and, when binary tensors follow the JSON, the JSON's length."""
    outs = []
    blobs: list[bytes] = []
    for name, arr in answer.outputs.items():
        dt = datatype(arr)
        entry: dict[str, Any] = {"name": name, "datatype": dt, "shape": list(arr.shape)}
        if binary_all or name in binary:
            if dt == "BYTES":
                raw = _pack_bytes(arr)
            else:
                target = {"BOOL": "?", "INT64": "<i8", "FP64": "<f8"}[dt]
                raw = np.ascontiguousarray(arr, dtype=target).tobytes()
            entry["parameters"] = {"binary_data_size": len(raw)}
            blobs.append(raw)
        else:
            flat = arr.ravel()
            entry["data"] = flat if dt != "BYTES" else [str(v) for v in flat.tolist()]
        outs.append(entry)
    doc = {
        "model_name": answer.version.name,
        "model_version": str(answer.version.version),
        "id": request_id or prediction_id,
        "parameters": {"prediction_id": prediction_id, "role": answer.role},
        "outputs": outs,
    }
    head = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    if not blobs:
        return head, None
    return head + b"".join(blobs), len(head)
