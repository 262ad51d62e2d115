"""Found by the journey matrix: a canary trained on fewer columns than the champion refused the
champion's callers (under the default ``extra_fields: reject`` every request routed to it that
carried the champion's fields answered 422 — the canary's share of live traffic failed). Now the
fields of every version an endpoint routes to are the endpoint's own: a version drops the ones it
does not read, and still refuses a field no version on the endpoint takes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from starlette.testclient import TestClient


def test_a_canary_on_fewer_columns_answers_the_champions_callers(tmp_path: Path) -> None:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from modelyard import Project
    from modelyard.serving.stack import ServeSpec, build_app

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    wide, narrow = list(X.columns[:5]), list(X.columns[:3])
    with Project.init(tmp_path / "p") as reg:
        refs = []
        for cols in (wide, narrow):
            model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X[cols], y)
            mv = reg.register_model(model, "bc", X[cols].head())
            reg.transition(mv, "validated", reason="gates passed")
            reg.transition(mv, "approved", reason="reviewed", actor="reviewer")
            refs.append(mv.ref)
        reg.deploy(refs[0], "bc", reason="champion")
        reg.deploy(refs[1], "bc", role="canary", weight=0.5, reason="canary")
        app = build_app(reg, ServeSpec(project=str(tmp_path / "p"), refresh_s=0.1))
        answers: Counter[tuple[int, str | None]] = Counter()
        with TestClient(app) as client:
            for i in range(40):
                row = X[wide].iloc[i].to_dict()
                r = client.post("/v1/models/bc:predict", json={"instances": [row]})
                answers[(r.status_code, r.headers.get("x-model-version"))] += 1
            bogus = client.post(
                "/v1/models/bc:predict", json={"instances": [{**row, "not-a-feature": 1.0}]}
            )
    assert {code for code, _ in answers} == {200}, answers
    assert {version for _, version in answers} == set(refs), answers
    # a field that no version on the endpoint reads is still refused, naming it
    assert bogus.status_code == 422 and "not-a-feature" in bogus.json()["error"], bogus.text
