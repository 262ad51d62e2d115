"""From a prediction id back to everything behind it, in one command and one API call: the
answer (route, output, the logged input with PII hashed), the version, its run, data and code,
and the label posted for it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from modelyard.core.feedback_records import Label
from modelyard.monitoring.feedback import add_labels
from modelyard.security import tokens
from modelyard.web.api import PREFIX, management_app
from tests.monitoring.feedback_support import (
    arrests_project,
    predict,
    records,
    run_cli,
    serving,
)


def test_lineage_walks_from_a_prediction_id_to_version_run_data_and_label(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    reg, mv, ev = arrests_project(tmp_path / "p", pii=("citizen",))
    rows = records(ev.head(2))
    with serving(reg, mv) as client:
        labelled = predict(client, rows[:1])
        unlabelled = predict(client, rows[1:2])
    add_labels(reg, [Label(labelled, "Yes")], "api", "tester")
    root = str(reg.settings.project_dir)

    out = run_cli(capsys, monkeypatch, "lineage", "prediction", labelled, "-p", root, "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    p = doc["prediction"]
    assert p["id"] == labelled and p["endpoint"] == "arrests" and p["version"] == mv.ref
    assert p["role"] == "production" and p["input_logged"] is True
    logged = p["input"][0]
    assert logged["citizen"].startswith("sha256:") and logged["citizen"] != rows[0]["citizen"]
    assert {k: v for k, v in logged.items() if k != "citizen"} == {
        k: v for k, v in rows[0].items() if k != "citizen"
    }
    assert doc["feedback"]["label"] == "Yes"
    assert doc["model_version"]["ref"] == mv.ref
    assert doc["run"]["id"] == mv.run_id and doc["run"]["params"] == {"kind": "logistic"}
    assert {d["ref"] for d in doc["datasets"]} == {"arrests-train@1"}

    text = run_cli(capsys, monkeypatch, "lineage", "prediction", unlabelled, "-p", root)
    assert text.returncode == 0 and "no feedback label yet" in text.stdout
    assert f"answered by {mv.ref}" in text.stdout and "run " in text.stdout

    missing = run_cli(capsys, monkeypatch, "lineage", "prediction", "nope", "-p", root)
    assert missing.returncode != 0 and "no logged prediction 'nope'" in missing.stderr
    assert run_cli(capsys, monkeypatch, "lineage", "prediction", "-p", root).returncode == 2

    secret = tokens.create(reg.store, "viewer-1", "viewer", "admin").secret
    with TestClient(management_app(reg)) as api:
        auth = {"Authorization": f"Bearer {secret}"}
        got = api.get(f"{PREFIX}/predictions/{labelled}", headers=auth)
        assert got.status_code == 200 and got.json()["prediction"]["version"] == mv.ref
        assert got.json()["feedback"]["label"] == "Yes"
        gone = api.get(f"{PREFIX}/predictions/nope?endpoint=arrests", headers=auth)
        assert gone.status_code == 404 and gone.json()["error"].startswith("no logged prediction")
        assert api.get(f"{PREFIX}/predictions/{labelled}").status_code == 401
