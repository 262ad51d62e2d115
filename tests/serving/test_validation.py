"""Every class of bad input answers 4xx with one JSON shape and a message naming the field."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pandas as pd
import pytest

if TYPE_CHECKING:
    from tests.serving.conftest import Project


def _check(r: httpx.Response, status: int, *fragments: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert set(body) >= {"error", "code"} and isinstance(body["error"], str)
    for f in fragments:
        assert f in body["error"], (f, body["error"])
    return body


def test_missing_and_extra_fields(client: httpx.Client, project: Project) -> None:
    row = project.row()
    del row["mean radius"]
    body = _check(
        client.post("/v1/models/bc:predict", json={"instances": [row]}),
        422,
        "missing fields 'mean radius'",
    )
    assert body["id"]  # even a refusal carries its prediction id
    row = {**project.row(), "shoe size": 42}
    _check(
        client.post("/v1/models/bc:predict", json={"instances": [row]}),
        422,
        "unexpected fields 'shoe size'",
    )


def test_wrong_types(client: httpx.Client, project: Project) -> None:
    for value, got in (
        ("12.5", "string '12.5'"),
        (True, "boolean true"),
        (None, "null"),
        ([1], "a list"),
    ):
        row = {**project.row(), "mean texture": value}
        _check(
            client.post("/v1/models/bc:predict", json={"instances": [row]}),
            422,
            "instances[0].mean texture",
            "expected a finite number",
            got,
        )


def test_wrong_shapes(client: httpx.Client, project: Project) -> None:
    _check(
        client.post("/v1/models/bc:predict", json={"instances": [[1.0, 2.0]]}),
        422,
        "instances[0]",
        "expected 30 values",
    )
    body = {"inputs": [{"name": "x", "shape": [1, 29], "datatype": "FP64", "data": [0.0] * 29}]}
    _check(client.post("/v2/models/bc/infer", json=body), 422, "expected shape [n, 30]")
    body = {"inputs": [{"name": "x", "shape": [2, 30], "datatype": "FP64", "data": [0.0] * 30}]}
    _check(client.post("/v2/models/bc/infer", json=body), 422, "needs 60 values, got 30")
    _check(client.post("/v1/models/bc:predict", json={"instances": []}), 422, "no rows")


def test_nan_and_infinity_are_refused(client: httpx.Client, project: Project) -> None:
    X = project.X.iloc[:2].to_numpy().copy()
    X[1, 3] = np.nan
    raw = X.astype("<f8").tobytes()
    head = (
        b'{"inputs":[{"name":"x","shape":[2,30],"datatype":"FP64","parameters":{"binary_data_size":'
        + str(len(raw)).encode()
        + b"}}]}"
    )
    r = client.post(
        "/v2/models/bc/infer",
        content=head + raw,
        headers={"Inference-Header-Content-Length": str(len(head))},
    )
    _check(r, 422, "[1].mean area", "NaN is not allowed")
    # JSON cannot carry NaN: the body is malformed
    _check(
        client.post(
            "/v1/models/bc:predict",
            content=b'{"instances": [[NaN' + b", 1.0" * 29 + b"]]}",
        ),
        400,
        "not valid JSON",
    )
    too_big = b'{"instances": [[1e400' + b", 1.0" * 29 + b"]]}"
    _check(client.post("/v1/models/bc:predict", content=too_big), 400, "infinity")


def test_unknown_category(client: httpx.Client, project: Project) -> None:
    from tests.serving.conftest import FEATURES

    row = project.arrests[FEATURES].iloc[0].to_dict()
    row = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
    ok = client.post("/v1/models/arrests:predict", json={"instances": [row]})
    assert ok.status_code == 200, ok.text
    # the pipeline one-hot encodes with handle_unknown="ignore": the signature's inferred policy
    # passes an unseen category to it, and the answer is what the model itself gives
    purple = {**row, "colour": "Purple"}
    seen = client.post("/v1/models/arrests:predict", json={"instances": [purple]})
    assert seen.status_code == 200, seen.text
    reg = project.registry()
    mv = reg.model_version("arrests@1")
    local = reg.load_model(mv).predict(pd.DataFrame([purple])[FEATURES]).tolist()
    reg.close()
    assert seen.json()["predictions"] == local
    assert mv.signature["input_policy"]["unseen_categories"] == "pass"
    _check(
        client.post("/v1/models/arrests:predict", json={"instances": [{**row, "year": 2002.5}]}),
        422,
        "instances[0].year",
        "expected an integer",
    )


def test_malformed_bodies(client: httpx.Client) -> None:
    _check(client.post("/v1/models/bc:predict", content=b"{not json"), 400, "not valid JSON")
    _check(client.post("/v1/models/bc:predict", json=[1, 2]), 422, '"instances" or "inputs"')
    _check(client.post("/v1/models/bc:predict", json={"rows": []}), 422, "exactly one of")
    _check(client.post("/v2/models/bc/infer", json={"inputs": []}), 422, "non-empty list")
    body = {"inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP99", "data": []}]}
    _check(client.post("/v2/models/bc/infer", json=body), 422, "unknown \"datatype\" 'FP99'")
    body = {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": ["a", 1]}]}
    _check(client.post("/v2/models/bc/infer", json=body), 422, "data[0]: expected a number")
    # binary framing that does not add up
    head = (
        b'{"inputs":[{"name":"x","shape":[1,30],"datatype":"FP64",'
        b'"parameters":{"binary_data_size":240}}]}'
    )
    r = client.post(
        "/v2/models/bc/infer",
        content=head + b"\0" * 10,
        headers={"Inference-Header-Content-Length": str(len(head))},
    )
    _check(r, 400, "binary_data_size 240")
    r = client.post(
        "/v2/models/bc/infer", content=head, headers={"Inference-Header-Content-Length": "oops"}
    )
    _check(r, 400, "must be an integer")
    blob = struct.pack("<I", 99) + b"ab"
    head = (
        b'{"inputs":[{"name":"colour","shape":[1],"datatype":"BYTES",'
        b'"parameters":{"binary_data_size":6}}]}'
    )
    r = client.post(
        "/v2/models/arrests/infer",
        content=head + blob,
        headers={"Inference-Header-Content-Length": str(len(head))},
    )
    _check(r, 400, "truncated")


def test_unknown_outputs_endpoints_and_methods(client: httpx.Client, project: Project) -> None:
    body = {
        "inputs": [
            {"name": "x", "shape": [1, 30], "datatype": "FP64", "data": project.X.iloc[0].tolist()}
        ],
        "outputs": [{"name": "explain"}],
    }
    _check(client.post("/v2/models/bc/infer", json=body), 422, "unknown output 'explain'")
    _check(
        client.post("/v1/models/nope:predict", json={"instances": []}), 404, "no endpoint 'nope'"
    )
    _check(client.get("/v2/models/nope"), 404, "no endpoint")
    _check(client.get("/nowhere"), 404, "no route")
    _check(client.post("/v2/health/ready"), 405, "POST is not allowed")


def test_oversize_bodies_and_rows(client: httpx.Client, project: Project) -> None:
    many = {"instances": [project.row()] * 6}
    _check(client.post("/v1/models/small:predict", json=many), 413, "2,048 bytes")
    rows = {"instances": [[0.0] * 30] * 6}
    _check(client.post("/v1/models/small:predict", json=rows), 413)
    rows = {"instances": [[0.0] * 30] * 6}
    r = client.post("/v1/models/bc:predict", json=rows)
    assert r.status_code == 200


@pytest.mark.parametrize("seed", range(3))
def test_garbage_never_gives_a_5xx(client: httpx.Client, project: Project, seed: int) -> None:
    """Random mutations of valid requests: always answered, never with a 5xx."""
    import json

    import orjson

    rng = np.random.default_rng(seed)
    values: list[Any] = [None, True, "x", -1e308, 1e308, 10**30, [], {}, [1.0] * 31, "NaN", 0, -0.0]
    base_v1 = {"instances": [project.row()]}
    base_v2 = {
        "inputs": [
            {"name": "x", "shape": [1, 30], "datatype": "FP64", "data": project.X.iloc[0].tolist()}
        ]
    }
    for _ in range(25):
        body = orjson.loads(orjson.dumps(base_v1))
        key = str(rng.choice(list(body["instances"][0])))
        body["instances"][0][key] = values[rng.integers(len(values))]
        r = client.post("/v1/models/bc:predict", json=body)
        assert r.status_code < 500, r.text
        body2 = orjson.loads(orjson.dumps(base_v2))
        field = str(rng.choice(["name", "shape", "datatype", "data"]))
        body2["inputs"][0][field] = values[rng.integers(len(values))]
        r = client.post("/v2/models/bc/infer", json=body2)
        assert r.status_code < 500, r.text
        raw = bytearray(json.dumps(body).encode())
        for _ in range(3):
            raw[rng.integers(len(raw))] = int(rng.integers(256))
        r = client.post("/v1/models/bc:predict", content=bytes(raw))
        assert r.status_code < 500, r.text
