"""Both protocols over a real socket, including tritonclient with its defaults (binary)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import numpy as np
import pandas as pd
import pytest

from modelyard.serving import openapi

if TYPE_CHECKING:
    from tests.serving.conftest import Project, RunningServer


def test_v1_records_rows_and_columns_agree(client: httpx.Client, project: Project) -> None:
    X = project.X
    records = {"instances": [project.row(i) for i in range(3)]}
    rows = {"instances": X.iloc[:3].to_numpy().tolist()}
    columns = {"inputs": {k: X[k].iloc[:3].tolist() for k in X.columns}}
    answers = [client.post("/v1/models/bc:predict", json=b) for b in (records, rows, columns)]
    for r in answers:
        assert r.status_code == 200, r.text
        assert r.headers["x-model-version"] == "bc@1"
        assert r.headers["x-prediction-id"] == r.json()["id"]
        assert r.json()["model_version"] == "bc@1"
    preds = [r.json()["predictions"] for r in answers]
    assert preds[0] == preds[1] == preds[2]
    reg = project.registry()
    model = reg.load_model("bc@1")
    reg.close()
    assert preds[0] == model.predict(X.iloc[:3]).tolist()


def test_v1_answers_probabilities_beside_the_labels_when_asked(
    client: httpx.Client, project: Project
) -> None:
    X = project.X.iloc[:3]
    body = {"instances": [project.row(i) for i in range(3)], "parameters": {"probabilities": True}}
    r = client.post("/v1/models/bc:predict", json=body)
    assert r.status_code == 200, r.text
    doc = r.json()
    reg = project.registry()
    model = reg.load_model("bc@1")
    reg.close()
    assert doc["predictions"] == model.predict(X).tolist()
    assert doc["classes"] == model.classes_.tolist()
    np.testing.assert_allclose(doc["probabilities"], model.predict_proba(X), rtol=1e-9)
    plain = client.post("/v1/models/bc:predict", json={"instances": body["instances"]}).json()
    assert "probabilities" not in plain and plain["predictions"] == doc["predictions"]
    for bad, says in (
        ({"probabilities": "yes"}, "parameters.probabilities: expected true or false"),
        ({"proba": True}, "parameters.proba: unknown parameter"),
        ([True], "parameters: expected an object"),
    ):
        wrong = client.post("/v1/models/bc:predict", json={**body, "parameters": bad})
        assert wrong.status_code == 422 and says in wrong.json()["error"], wrong.text


def test_v2_per_column_and_single_tensor(client: httpx.Client, project: Project) -> None:
    X = project.X.iloc[:4]
    per_col = {
        "id": "req-7",
        "inputs": [
            {"name": k, "shape": [4], "datatype": "FP64", "data": X[k].tolist()} for k in X.columns
        ],
    }
    single = {
        "inputs": [
            {"name": "input", "shape": [4, 30], "datatype": "FP32", "data": X.to_numpy().tolist()}
        ],
        "outputs": [{"name": "predict_proba"}],
    }
    a = client.post("/v2/models/bc/infer", json=per_col)
    b = client.post("/v2/models/bc/infer", json=single)
    assert a.status_code == 200 and b.status_code == 200, (a.text, b.text)
    ja, jb = a.json(), b.json()
    assert ja["id"] == "req-7" and ja["model_name"] == "bc" and ja["model_version"] == "1"
    assert ja["parameters"]["prediction_id"] == a.headers["x-prediction-id"]
    assert {o["name"] for o in ja["outputs"]} == {"predict", "predict_proba"}
    assert [o["name"] for o in jb["outputs"]] == ["predict_proba"]
    proba = np.array(jb["outputs"][0]["data"]).reshape(jb["outputs"][0]["shape"])
    reg = project.registry()
    want = reg.load_model("bc@1").predict_proba(X.astype(np.float32).astype(np.float64))
    reg.close()
    np.testing.assert_allclose(proba, want, rtol=1e-9)


def test_v2_version_path_bypasses_routing(client: httpx.Client, project: Project) -> None:
    body = {
        "inputs": [
            {"name": "x", "shape": [1, 30], "datatype": "FP64", "data": project.X.iloc[0].tolist()}
        ]
    }
    r = client.post("/v2/models/canary/versions/2/infer", json=body)
    assert r.status_code == 200 and r.json()["model_version"] == "2"
    assert client.post("/v2/models/canary/versions/9/infer", json=body).status_code == 404


def test_tritonclient_with_its_defaults(server: RunningServer, project: Project) -> None:
    tc = pytest.importorskip("tritonclient.http")
    client = tc.InferenceServerClient(url=server.url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("bc")
    meta = client.get_model_metadata("bc")
    assert meta["inputs"][0]["name"] == "mean radius"
    assert "2-D" in meta["parameters"]["input_forms"]
    X = project.X.iloc[:5].to_numpy(dtype=np.float32)
    inp = tc.InferInput("input__0", list(X.shape), "FP32")
    inp.set_data_from_numpy(X)  # binary by default
    result = client.infer("bc", [inp])  # no outputs → binary_data_output
    reg = project.registry()
    model = reg.load_model("bc@1")
    reg.close()
    expected = model.predict(project.X.iloc[:5].astype(np.float32).astype(np.float64))
    np.testing.assert_array_equal(result.as_numpy("predict"), expected)
    assert result.as_numpy("predict_proba").shape == (5, 2)
    # per-column tensors, one requested output as binary, one as JSON
    cols = []
    for name in project.X.columns:
        t = tc.InferInput(name, [5], "FP64")
        t.set_data_from_numpy(project.X[name].iloc[:5].to_numpy())
        cols.append(t)
    outs = [
        tc.InferRequestedOutput("predict_proba"),
        tc.InferRequestedOutput("predict", binary_data=False),
    ]
    result = client.infer("bc", cols, outputs=outs, request_id="abc")
    assert result.get_response()["id"] == "abc"
    np.testing.assert_array_equal(result.as_numpy("predict"), model.predict(project.X.iloc[:5]))
    np.testing.assert_allclose(
        result.as_numpy("predict_proba"), model.predict_proba(project.X.iloc[:5])
    )


def test_tritonclient_bytes_tensors_for_categorical_inputs(
    server: RunningServer, project: Project
) -> None:
    tc = pytest.importorskip("tritonclient.http")
    from tests.serving.conftest import FEATURES

    client = tc.InferenceServerClient(url=server.url.removeprefix("http://"))
    df = project.arrests[FEATURES].head(6)
    inputs = []
    for name in FEATURES:
        col = df[name]
        if not pd.api.types.is_numeric_dtype(col):
            t = tc.InferInput(name, [6], "BYTES")
            t.set_data_from_numpy(col.to_numpy(dtype=object))
        else:
            t = tc.InferInput(name, [6], "INT64")
            t.set_data_from_numpy(col.to_numpy(dtype=np.int64))
        inputs.append(t)
    result = client.infer("arrests", inputs)
    reg = project.registry()
    model = reg.load_model("arrests@1")
    reg.close()
    np.testing.assert_array_equal(result.as_numpy("predict"), model.predict(df))


def test_health_metadata_and_openapi_cover_every_route(client: httpx.Client) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").status_code == 200
    assert "binary_tensor_data" in client.get("/v2").json()["extensions"]
    assert "bc" in client.get("/v1/models").json()["models"]
    assert client.get("/v1/models/canary").json()["ready"] is True
    meta = client.get("/v2/models/bc/versions/1").json()
    assert meta["parameters"]["runtime"] == "numpy-linear"
    assert client.get("/v2/models/bc/versions/1/ready").json()["ready"] is True
    doc = client.get("/openapi.json").json()
    listed = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert listed == {(m, p) for m, p, _, _ in openapi.ROUTES}
    for method, path, _, _ in openapi.ROUTES:
        if method == "GET":
            concrete = path.replace("{name}", "bc").replace("{version}", "1")
            assert client.get(concrete).status_code == 200, path
    assert client.get("/metrics").text.startswith("# HELP")


def test_explain_is_exact_for_the_linear_pipeline(client: httpx.Client, project: Project) -> None:
    X = project.X.iloc[:3]
    r = client.post("/v1/models/bc:explain", json={"instances": X.to_numpy().tolist()})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["model_version"] == "bc@1" and doc["space"].startswith("log-odds")
    reg = project.registry()
    model = reg.load_model("bc@1")
    reg.close()
    decision = model.decision_function(X)
    for row, want in zip(doc["explanations"], decision, strict=True):
        assert set(row["contributions"]) == set(X.columns)
        assert abs(row["base"] + sum(row["contributions"].values()) - want) < 1e-9
    r = client.post("/v1/models/forest:explain", json={"instances": X.to_numpy().tolist()})
    assert r.status_code == 200 and r.json()["method"].startswith("TreeSHAP")  # trees: shap
