"""ONNX Runtime conversion: parity-checked, registered as a derived version, served alike."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import numpy as np
import pytest

from tests.serving.conftest import start_server

if TYPE_CHECKING:
    from tests.serving.conftest import Project


def test_convert_to_onnx_registers_a_derived_version_that_serves_the_same_answers(
    project: Project,
) -> None:
    pytest.importorskip("skl2onnx")
    from modelyard.serving.convert import convert_to_onnx

    reg = project.registry()
    try:
        result = convert_to_onnx(reg, "bcrf@1")
        assert result.summary["passed"] and result.summary["labels_differing"] == 0
        derived = result.derived
        assert derived is not None and derived.flavor == "onnx"
        assert derived.parent_id == result.source.id and derived.state == "proposed"
        reports = reg.store.reports.of(derived.id)
        assert reports[0].kind == "conversion" and reports[0].summary["parent"] == "bcrf@1"
        forest = reg.load_model("bcrf@1")
    finally:
        reg.close()
    srv = start_server(project, ref=derived.ref)
    try:
        X = project.X.iloc[:20]
        r = httpx.post(
            f"{srv.url}/v1/models/bcrf:predict", json={"instances": X.to_numpy().tolist()}
        )
        assert r.status_code == 200 and r.headers["x-model-version"] == derived.ref
        assert r.json()["predictions"] == forest.predict(X).tolist()
        meta = httpx.get(f"{srv.url}/v2/models/bcrf").json()
        assert meta["parameters"]["runtime"] == "onnxruntime"
        assert {o["name"] for o in meta["outputs"]} == {"predict", "predict_proba"}
        body = {
            "inputs": [
                {"name": "x", "shape": [20, 30], "datatype": "FP32", "data": X.to_numpy().tolist()}
            ]
        }
        out = httpx.post(f"{srv.url}/v2/models/bcrf/infer", json=body).json()["outputs"]
        proba = {o["name"]: o for o in out}["predict_proba"]
        np.testing.assert_allclose(
            np.array(proba["data"]).reshape(proba["shape"]), forest.predict_proba(X), atol=1e-4
        )
    finally:
        srv.stop()
