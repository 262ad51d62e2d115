"""Runs record their lineage by themselves; model versions load only safely and verified."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelyard.core.errors import Conflict, IntegrityError, InvalidInput, UnsafeArtifact
from modelyard.registry.registry import Registry


def _data() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y


def _fit() -> object:
    X, y = _data()
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)


class Opaque:
    """Not a format modelyard can store safely."""

    def predict(self, X: object) -> list[int]:
        return [0]


def test_a_run_records_code_environment_params_metrics_and_inputs(
    registry: Registry, project_dir: Path
) -> None:
    subprocess.run(["git", "init", "-q"], cwd=project_dir, check=True)
    subprocess.run(
        [
            "git",
            "-c",
            "user.email=a@b",
            "-c",
            "user.name=a",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "init",
        ],
        cwd=project_dir,
        check=True,
    )
    (project_dir / "train.py").write_text("print('train')\n")  # uncommitted: dirty
    (project_dir / "uv.lock").write_text("lock")
    X, y = _data()
    ds = registry.add_dataset(X.assign(target=y), name="bc")
    with registry.start_run(model="bc", params={"C": 1.0}, seed=7) as run:
        run.use_dataset(ds)
        run.log_params({"penalty": "l2"})
        run.log_metrics({"auc": 0.99, "acc": 0.97})
        run.log_metric("loss", 0.5, step=3)
        mv = run.log_model(_fit(), sample_input=X.head())
    row = registry.store.runs.get(run.id)
    env = row.environment
    assert row.status == "finished" and row.seed == 7 and row.created_by == "tester"
    assert row.params == {"C": 1.0, "penalty": "l2"}
    assert env["git"]["commit"] and env["git"]["dirty"] is True and env["git"]["diff_sha256"]
    assert env["lock_sha256"] and env["python"] and env["packages_count"] > 10
    assert registry.artifacts.get(env["packages_digest"]).startswith(b"[")
    keys = {m.key for m in registry.store.runs.metrics(run.id)}
    assert keys == {"auc", "acc", "loss", "cpu_seconds"}
    assert [i.dataset.name for i in registry.store.runs.inputs(run.id)] == ["bc"]
    assert mv.run_id == run.id and mv.state == "proposed"


def test_a_crashing_training_script_marks_the_run_failed(registry: Registry) -> None:
    with pytest.raises(ZeroDivisionError), registry.start_run(model="bc") as run:
        1 / 0  # noqa: B018
    row = registry.store.runs.get(run.id)
    assert row.status == "failed" and "ZeroDivisionError" in (row.error or "")


def test_params_are_immutable_within_a_run(registry: Registry) -> None:
    with registry.start_run(model="bc", params={"C": 1.0}) as run:
        run.log_params({"C": 1.0})  # same value: fine
        with pytest.raises(Conflict, match="immutable"):
            run.log_params({"C": 2.0})


_JSON_LEAF = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
_JSON = st.recursive(
    _JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def _typed(value: object) -> object:
    """``value`` with every leaf paired with its type, so 1 and 1.0 and True differ."""
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    return (type(value).__name__, value)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(params=st.dictionaries(st.text(min_size=1, max_size=6), _JSON, max_size=4))
def test_params_come_back_with_the_json_types_they_were_logged_with(
    registry: Registry, params: dict[str, Any]
) -> None:
    with registry.start_run(model="bc", params=params) as run:
        pass
    stored = registry.store.runs.get(run.id).params
    assert _typed(stored) == _typed(params) and _typed(run.params) == _typed(params)


def test_numpy_params_and_tuples_become_plain_json_and_nan_is_refused(registry: Registry) -> None:
    import numpy as np

    with registry.start_run(model="bc") as run:
        run.log_params({"drop": ("a", "b"), "n": np.int64(3), "w": np.array([0.5, 1.5])})
        with pytest.raises(InvalidInput, match="finite number"):
            run.log_params({"alpha": float("nan")})
        with pytest.raises(InvalidInput, match="string keys"):
            run.log_params({"grid": {1: "a"}})
    stored = registry.store.runs.get(run.id).params
    assert stored == {"drop": ["a", "b"], "n": 3, "w": [0.5, 1.5]}
    assert isinstance(stored["n"], int)


def test_model_versions_carry_signature_and_card(project_dir: Path) -> None:
    from modelyard.registry.registry import Registry

    (project_dir / "modelyard.yaml").write_text(
        "models:\n  bc:\n    owner: team-a\n    objective: catch tumours early\n    kpi: recall\n"
        "    sla: {latency_p99_ms: 20, escalation: pager}\n"
    )
    X, _ = _data()
    with Registry.open(project_dir, env={}) as reg:
        mv = reg.register_model(_fit(), name="bc", sample_input=X.head())
        assert mv.card["owner"] == "team-a" and mv.card["sla"]["latency_p99_ms"] == 20
        names = [i["name"] for i in mv.signature["inputs"]]
        assert names == list(X.columns)
        assert mv.signature["task"] == "classification" and mv.signature["classes"] == [0, 1]
        again = reg.register_model(_fit(), name="bc", sample_input=X.head())
        assert again.version == 2


def test_loading_verifies_the_digest_before_deserialising(
    local_registry: Registry, project_dir: Path
) -> None:
    X, _ = _data()
    mv = local_registry.register_model(_fit(), name="bc", sample_input=X.head())
    assert (local_registry.load_model(mv).predict(X.head()) == _fit().predict(X.head())).all()  # type: ignore[attr-defined]
    path = (
        project_dir
        / ".modelyard"
        / "artifacts"
        / local_registry.artifacts.key_for(mv.artifact_digest)
    )
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(IntegrityError, match=mv.artifact_digest):
        local_registry.load_model(mv)


def test_untrusted_formats_need_explicit_trust(local_registry: Registry) -> None:
    with pytest.raises(UnsafeArtifact, match="trust=True"):
        local_registry.register_model(Opaque(), name="odd")
    mv = local_registry.register_model(Opaque(), name="odd", trust=True)
    assert mv.flavor == "pickle" and mv.trusted
    history = local_registry.store.versions.transitions_of(mv.id)
    assert "trusted" in history[0].reason
    assert local_registry.load_model(mv).predict(None) == [0]


def test_skops_refuses_types_outside_the_trusted_set() -> None:
    from sklearn.preprocessing import FunctionTransformer

    from modelyard.registry.flavors import SklearnFlavor

    data, info = SklearnFlavor().dump(FunctionTransformer(func=subprocess.call))
    with pytest.raises(UnsafeArtifact, match="subprocess"):
        SklearnFlavor().load(data, info, trusted=False)


def test_xgboost_models_round_trip_in_their_native_format(local_registry: Registry) -> None:
    import numpy as np
    import xgboost

    X, y = _data()
    model = xgboost.XGBClassifier(n_estimators=20, max_depth=3).fit(X, y)
    mv = local_registry.register_model(model, name="xgb", sample_input=X.head())
    assert mv.flavor == "xgboost" and not mv.trusted
    assert mv.signature["classes"] == [0, 1]
    loaded = local_registry.load_model(mv)
    np.testing.assert_allclose(loaded.predict_proba(X.head(50)), model.predict_proba(X.head(50)))
