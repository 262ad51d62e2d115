"""Finding 1 of issue 14: a model that is not marked trusted never runs code.

A corpus of hostile artifacts, each built so that its payload would create a marker file. Each
is first shown to be genuinely hostile (loaded the way a trusting caller would, its payload does
create the marker), then refused with a message naming the offending type: at ``log_model``
(where the attack is a Python object) and at every load path (its bytes written straight into
the store, bypassing ``log_model``): the registry, ``modelyard gate`` and a real ``modelyard
serve``. The marker never appears. The models the project supports still load untrusted, and a
version registered with ``trust=True`` is recorded (who, when) and shown as such.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import operator
import os
import pickle
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest

from modelyard.core.errors import UnsafeArtifact

if TYPE_CHECKING:
    from modelyard.registry.registry import Registry

FEATURES = ["colour", "year", "age", "sex", "employed", "citizen", "checks"]
CATEGORICAL = ["colour", "sex", "employed", "citizen"]
NUMERIC = ["year", "age", "checks"]


# ---- the corpus ------------------------------------------------------------------------------
@dataclass
class Hostile:
    name: str
    offending: str  # the type the refusal must name
    data: bytes  # the artifact as it would sit in the store
    flavor: str = "sklearn"
    model: Any = None  # the Python object, when the attack can come through log_model
    fires_on_load: bool = False  # the payload runs while deserialising, not when predicting
    logged_offending: str | None = None  # what log_model names, when it differs


def _touch(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').write('pwned')"


def _constant(value: Any) -> Any:
    """A step that turns any input into an array holding ``value`` (so the payload's argument is
    fixed by the artifact, whatever the request contains)."""
    from sklearn.preprocessing import FunctionTransformer

    return FunctionTransformer(np.full_like, kw_args={"fill_value": value, "dtype": "O"})


def _pipeline(*steps: Any) -> Any:
    from sklearn.pipeline import make_pipeline

    return make_pipeline(*steps)


def _ft(func: Any, **kw: Any) -> Any:
    from sklearn.preprocessing import FunctionTransformer

    return FunctionTransformer(func, kw_args=kw or None)


def _skops(model: Any) -> bytes:
    import skops.io as sio

    return bytes(sio.dumps(model))


def _with_schema(data: bytes, edit: Callable[[dict[str, Any]], None]) -> bytes:
    """Rewrite ``schema.json`` inside a skops zip, the way an attacker with a text editor would."""
    src = zipfile.ZipFile(io.BytesIO(data))
    schema = json.loads(src.read("schema.json"))
    edit(schema)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            body = json.dumps(schema).encode() if item.filename == "schema.json" else src.read(item)
            dst.writestr(item, body)
    return out.getvalue()


def _state_of(obj: Any) -> dict[str, Any]:
    """skops' own state for a plain value, to splice into a schema (ids dropped)."""
    import skops.io as sio

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "__id__"}
        return [strip(v) for v in node] if isinstance(node, list) else node

    schema = json.loads(zipfile.ZipFile(io.BytesIO(sio.dumps(obj))).read("schema.json"))
    return {k: v for k, v in strip(schema).items() if k not in ("protocol", "_skops_version")}


def _find(schema: Any, cls: str) -> dict[str, Any]:
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("__class__") == cls:
                return node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    raise AssertionError(f"no {cls} in the schema")


def _benign_pipeline(train: pd.DataFrame) -> Any:
    from sklearn.linear_model import LogisticRegression

    return _supported_pipeline(LogisticRegression(max_iter=500)).fit(
        train[FEATURES], train["released"] == "Yes"
    )


def corpus(marker: Path, train: pd.DataFrame) -> list[Hostile]:
    from numpy.testing._private.utils import runstring

    code = _touch(marker)
    shell = f"touch {marker}"
    expr = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    lam_model = _pipeline(_ft(lambda X: exec(code) or X))  # type: ignore[func-returns-value]  # the attack
    lam_model.fit(train[FEATURES].head(20))
    import cloudpickle

    items = [
        # The reproduction: nothing but NumPy and scikit-learn names.
        Hostile(
            "np.vectorize of numpy's runstring (exec of a string)",
            "numpy.testing._private.utils.runstring",
            b"",
            model=_pipeline(_constant(code), _ft(np.vectorize(runstring), dict={})),
        ),
        Hostile(
            "FunctionTransformer + np.vectorize(eval)",
            "builtins.eval",
            b"",
            model=_pipeline(_constant(expr), _ft(np.vectorize(eval))),
        ),
        Hostile(
            "FunctionTransformer + np.vectorize(exec)",
            "builtins.exec",
            b"",
            model=_pipeline(_constant(code), _ft(np.vectorize(exec))),
        ),
        Hostile(
            "FunctionTransformer + np.vectorize(os.system)",
            "posix.system",
            b"",
            model=_pipeline(_constant(shell), _ft(np.vectorize(os.system))),
        ),
        Hostile(
            "FunctionTransformer + np.vectorize(subprocess.call, shell=True)",
            "subprocess.call",
            b"",
            model=_pipeline(_constant(shell), _ft(np.vectorize(subprocess.call), shell=True)),
        ),
        Hostile(
            "operator.methodcaller('__call__', code) over the builtin exec",
            "operator.methodcaller",
            b"",
            model=_pipeline(
                _constant(exec), _ft(np.vectorize(operator.methodcaller("__call__", code)))
            ),
        ),
        Hostile(
            "functools.partial(eval) through np.vectorize",
            "functools.partial",
            b"",
            model=_pipeline(_constant(expr), _ft(np.vectorize(functools.partial(eval)))),
        ),
        Hostile(
            "functools.partial of np.vectorize(exec)",
            "functools.partial",
            b"",
            model=_pipeline(_constant(code), _ft(functools.partial(np.vectorize(exec)))),
        ),
        Hostile(
            "a pickled lambda inside a pipeline, stored as pickle without trust",
            "refusing to unpickle",
            cloudpickle.dumps(lam_model),
            flavor="pickle",
            model=lam_model,
            logged_offending="<lambda>",
        ),
        Hostile(
            "a cloudpickled pipeline with a lambda, stored under the sklearn flavour",
            "pickle stream",
            cloudpickle.dumps(lam_model),
        ),
    ]
    for h in items:
        if h.model is not None and not h.data and h.flavor == "sklearn":
            h.model.fit(train[FEATURES].head(20), None)  # fitting runs only the constant step
            h.data = _skops(h.model)

    benign = _skops(_benign_pipeline(train))

    def constructor_call(module: str, cls: str, args: tuple[Any, ...]) -> Callable[..., None]:
        # The scaler's entry becomes a call ``module.cls(*args)`` at load time; the rest of the
        # file (and the version's card) still claims a plain logistic-regression pipeline.
        def edit(schema: dict[str, Any]) -> None:
            node = _find(schema, "StandardScaler")
            node.clear()
            node.update(
                {
                    "__class__": cls,
                    "__module__": module,
                    "__loader__": "ConstructorFromReduceNode",
                    "content": _state_of(args),
                }
            )

        return edit

    items += [
        Hostile(
            "hand-edited skops: builtins.exec as a constructor call, card claims a pipeline",
            "builtins.exec",
            _with_schema(benign, constructor_call("builtins", "exec", (code,))),
            fires_on_load=True,
        ),
        Hostile(
            "hand-edited skops: numpy's runstring (passes a numpy. prefix) in the scaler's place",
            "numpy.testing._private.utils.runstring",
            _with_schema(
                benign, constructor_call("numpy.testing._private.utils", "runstring", (code, {}))
            ),
            fires_on_load=True,
        ),
        Hostile(
            "hand-edited skops: subprocess.Popen(['touch', marker]) in the scaler's place",
            "subprocess.Popen",
            _with_schema(
                benign, constructor_call("subprocess", "Popen", (["touch", str(marker)],))
            ),
            fires_on_load=True,
        ),
    ]
    return items


def _supported_pipeline(estimator: Any) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), CATEGORICAL),
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), NUMERIC),
        ]
    )
    return Pipeline([("pre", pre), ("model", estimator)])


# ---- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    from modelyard.demo.data import arrests

    return arrests().head(400).reset_index(drop=True)


def _trusting_load(h: Hostile) -> Any:
    """What a loader without the allow-list does (today's code, or a user with trust=True)."""
    if h.flavor == "pickle" or h.data[:1] == b"\x80":
        return pickle.loads(h.data)  # proving the artifact is hostile
    import skops.io as sio

    return sio.loads(h.data, trusted=sio.get_untrusted_types(data=h.data))


def _store_directly(reg: Any, name: str, h: Hostile, card_class: str) -> Any:
    """Write the artifact bytes and a version row the way an attacker with store access (or a
    bug in log_model) would: ``trusted`` is False and the card claims a benign class."""

    put = reg.artifacts.put(h.data)
    row = reg.store.versions.add(
        {
            "model_name": name,
            "run_id": None,
            "artifact_digest": put.digest,
            "flavor": h.flavor,
            "trusted": False,
            "signature": {},
            "size_bytes": put.size,
            "card": {"flavor_info": {"class": card_class, "types": []}},
            "parent_id": None,
            "created_by": "attacker",
        },
        actor="attacker",
        reason="written straight into the store",
    )
    return row


def _wait_for(path: Path, timeout_s: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


# ---- the tests -------------------------------------------------------------------------------
# payloads leave a Popen never waited for and the marker file open: the attacks ran, not a leak
@pytest.mark.filterwarnings(r"ignore:subprocess \d+ is still running:ResourceWarning")
@pytest.mark.filterwarnings(r"ignore:unclosed file <_io.TextIOWrapper name='.*':ResourceWarning")
def test_every_artifact_in_the_corpus_is_really_hostile(
    tmp_path: Path, train: pd.DataFrame
) -> None:
    """The control: loaded by a trusting loader and used, each payload creates its marker. A
    refusal below is therefore a refusal of code that would have run."""
    X = train[FEATURES].head(3)
    marker = tmp_path / "marker"
    for h in corpus(marker, train):
        marker.unlink(missing_ok=True)
        if h.fires_on_load:
            with contextlib.suppress(Exception):  # what the payload leaves behind may not load
                _trusting_load(h)
        else:
            _trusting_load(h).transform(X)
        _wait_for(marker)  # a spawned process may still be starting
        assert marker.exists(), f"{h.name}: the payload did not run, so the case proves nothing"


def test_log_model_refuses_each_hostile_model_naming_its_type(
    local_registry: Registry, tmp_path: Path, train: pd.DataFrame
) -> None:
    marker = tmp_path / "marker"
    refused = 0
    with_model = [h for h in corpus(marker, train) if h.model is not None]
    assert len(with_model) >= 8
    for h in with_model:
        with local_registry.start_run(model="hostile") as run, pytest.raises(UnsafeArtifact) as err:
            run.log_model(h.model, sample_input=train[FEATURES].head(5))
        assert (h.logged_offending or h.offending) in str(err.value), (h.name, str(err.value))
        assert "trust=True" in str(err.value)
        refused += 1
    assert refused == len(with_model)
    assert local_registry.model_versions("hostile") == []
    assert not marker.exists()


def test_every_load_path_refuses_bytes_written_past_log_model(
    local_registry: Registry, tmp_path: Path, train: pd.DataFrame
) -> None:
    from modelyard.registry.flavors import flavor

    marker = tmp_path / "marker"
    hostile = corpus(marker, train)
    for h in hostile:
        mv = _store_directly(local_registry, "hostile", h, "sklearn.pipeline.Pipeline")
        with pytest.raises(UnsafeArtifact) as err:
            local_registry.load_model(mv)
        assert h.offending in str(err.value), (h.name, str(err.value))
        # the flavour itself, as convert / replay / baselines / review reach it
        with pytest.raises(UnsafeArtifact):
            flavor(h.flavor).load(h.data, {"class": "sklearn.pipeline.Pipeline"}, False)
    assert not marker.exists()
    print(f"hostile artifacts refused {len(hostile)}/{len(hostile)}")


def test_trust_true_is_recorded_with_who_and_when_and_shown(
    local_registry: Registry, tmp_path: Path, train: pd.DataFrame
) -> None:
    from modelyard.registry.catalog import catalog

    model = _pipeline(_ft(np.log1p))  # a numpy ufunc: a function, so it needs trust
    frame = train[NUMERIC].head(20).astype(float)
    model.fit(frame)
    with local_registry.start_run(model="logs") as run:
        with pytest.raises(UnsafeArtifact, match=r"numpy\.log1p"):
            run.log_model(model, sample_input=frame.head(5))
        mv = run.log_model(model, sample_input=frame.head(5), trust=True)
    assert mv.trusted and mv.card["flavor_info"]["trusted_types"] == [
        "numpy.log1p (a function: callables are never trusted)"
    ]
    entries = local_registry.store.chain.entries(action="model.trust")
    assert [e.target for e in entries] == [f"model:{mv.ref}"]
    assert entries[0].actor == "tester" and entries[0].at is not None
    assert "numpy.log1p" in entries[0].data["types"][0]
    version = catalog(local_registry)[0].versions[0]
    assert version["trusted"] == {
        "by": "tester",
        "at": version["trusted"]["at"],
        "types": ["numpy.log1p (a function: callables are never trusted)"],
    }
    assert version["trusted"]["at"].startswith(str(mv.created_at)[:10])
    np.testing.assert_allclose(local_registry.load_model(mv).transform(frame), np.log1p(frame))


def test_a_trusted_flag_set_in_the_database_alone_does_not_load(
    local_registry: Registry, tmp_path: Path, train: pd.DataFrame
) -> None:
    """Someone with write access to the database flips ``trusted`` on a hostile version: the
    loader wants the audit entry of a trust=True registration of that very artifact."""
    import sqlalchemy as sa

    marker = tmp_path / "marker"
    h = corpus(marker, train)[0]
    mv = _store_directly(local_registry, "hostile", h, "sklearn.pipeline.Pipeline")
    with local_registry.store.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE model_versions SET trusted = true WHERE id = :i"), {"i": mv.id}
        )
    flipped = local_registry.model_version(mv.ref)
    assert flipped.trusted
    with pytest.raises(UnsafeArtifact, match="no audit entry records it"):
        local_registry.load_model(flipped)
    assert not marker.exists()


def _fit_supported(train: pd.DataFrame) -> dict[str, Any]:
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    X, y = train[FEATURES], train["released"] == "Yes"
    cat = X.assign(**{c: X[c].astype("category") for c in CATEGORICAL})
    return {
        "logistic": _supported_pipeline(LogisticRegression(max_iter=500)).fit(X, y),
        "hist_gb": _supported_pipeline(HistGradientBoostingClassifier(max_iter=20)).fit(X, y),
        "hist_gb_categorical": HistGradientBoostingClassifier(
            max_iter=20, categorical_features="from_dtype"
        ).fit(cat, y),
        "random_forest": _supported_pipeline(RandomForestClassifier(20, random_state=0)).fit(X, y),
        "gradient_boosting": _supported_pipeline(GradientBoostingClassifier(n_estimators=10)).fit(
            X, y
        ),
        "tree": _supported_pipeline(DecisionTreeClassifier(max_depth=4)).fit(X, y),
    }


def test_the_supported_models_still_load_untrusted(
    local_registry: Registry, train: pd.DataFrame
) -> None:
    X = train[FEATURES].head(50)
    for name, model in _fit_supported(train).items():
        x = X.assign(**{c: X[c].astype("category") for c in CATEGORICAL}) if "categ" in name else X
        with local_registry.start_run(model=name.replace("_", "-")) as run:
            mv = run.log_model(model, sample_input=x.head(5))
        assert mv.flavor == "sklearn" and not mv.trusted, name
        loaded = local_registry.load_model(mv)
        np.testing.assert_allclose(loaded.predict_proba(x), model.predict_proba(x), err_msg=name)


def test_tree_indices_out_of_range_are_refused_after_loading(train: pd.DataFrame) -> None:
    """Trees are on the allow-list only because their indices are checked: a forest whose child
    index points past its node array is refused before ``predict`` can read out of bounds."""
    import skops.io as sio

    from modelyard.registry.flavors import SklearnFlavor

    forest = _fit_supported(train)["random_forest"]
    data = _skops(forest)
    tree = sio.loads(data, trusted=sio.get_untrusted_types(data=data))["model"].estimators_[0].tree_
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    inner = np.flatnonzero(nodes["left_child"] != -1)[0]
    nodes["left_child"][inner] = 10**6
    hacked = type(tree)(tree.n_features, tree.n_classes, tree.n_outputs)
    hacked.__setstate__({**state, "nodes": nodes})
    forest["model"].estimators_[0].tree_ = hacked
    with pytest.raises(UnsafeArtifact, match="out of range"):
        SklearnFlavor().load(_skops(forest), {}, trusted=False)


def test_replay_convert_and_baselines_refuse_too(
    local_registry: Registry, tmp_path: Path, train: pd.DataFrame
) -> None:
    """The other load paths go through the same registry load, and refuse the same way."""
    from modelyard.serving.convert import convert_to_onnx
    from modelyard.serving.replay import replay

    marker = tmp_path / "marker"
    h = corpus(marker, train)[0]  # the issue's own reproduction
    mv = _store_directly(local_registry, "hostile", h, "sklearn.pipeline.Pipeline")
    for attempt in (
        lambda: replay(local_registry, "hostile", mv.ref),
        lambda: convert_to_onnx(local_registry, mv.ref),
    ):
        with pytest.raises(UnsafeArtifact, match=r"numpy\.testing\._private\.utils\.runstring"):
            attempt()
    assert not marker.exists()


def test_an_xgboost_class_name_from_the_store_is_never_called_blind(
    local_registry: Registry,
) -> None:
    """The XGBoost loader instantiates the class its card names: only XGBoost's model classes."""
    h = Hostile("xgboost card naming a module function", "set_config", b"{}", flavor="xgboost")
    mv = _store_directly(local_registry, "xgb", h, "xgboost.set_config")
    with pytest.raises(UnsafeArtifact, match="unknown XGBoost class 'set_config'"):
        local_registry.load_model(mv)


def test_a_reviewed_function_cannot_smuggle_a_hostile_argument(train: pd.DataFrame) -> None:
    """``partial(check_array, ...)`` is allowed (HistGradientBoosting holds one), but what it is
    given is audited like the rest of the file."""
    from sklearn.utils.validation import check_array

    from modelyard.registry.skops_policy import refused_types

    ok = _skops(_pipeline(_ft(functools.partial(check_array, dtype=None))))
    assert refused_types(ok) == []
    smuggled = _pipeline(_ft(functools.partial(check_array, estimator=np.vectorize(exec))))
    assert "builtins.exec" in " ".join(refused_types(_skops(smuggled)))


def test_an_older_skops_protocol_is_refused(train: pd.DataFrame) -> None:
    """Files claiming another protocol would load through skops' legacy node classes."""
    from modelyard.registry.skops_policy import refused_types

    def older(schema: dict[str, Any]) -> None:
        schema["protocol"] = 0

    data = _with_schema(_skops(_benign_pipeline(train)), older)
    [refused] = refused_types(data)
    assert refused.startswith("skops protocol 0 (this skops writes and audits")


def test_the_allow_list_is_exact_types_and_no_callables() -> None:
    """Every allowed name is a class that exists under exactly that name; none is a function,
    and the NumPy/SciPy ufuncs skops trusts by default are not on it."""
    import importlib

    from modelyard.registry.skops_policy import allowed_types

    names = allowed_types()
    for name in names:
        module, _, cls = name.rpartition(".")
        if module.startswith("numpy.random") and cls[0].isupper():
            module = "numpy.random" if hasattr(np.random, cls) else module
        obj = getattr(importlib.import_module(module), cls, None)
        assert isinstance(obj, type), f"{name} is not a class"
    assert "numpy.log1p" not in names and "numpy.vectorize" not in names
    assert not any(n.endswith(".") or n in ("sklearn", "numpy", "scipy") for n in names)


def test_the_allow_list_against_what_skops_trusts_by_default() -> None:
    """Compared with skops' defaults: none of its 300+ trusted ufuncs, and every type beyond its
    default data types is one modelyard reviewed and names (helpers, containers, sparse)."""
    from skops.io import _trusted_types as skops_default  # private: read to compare, not used

    from modelyard.registry.skops_policy import (
        PYTHON_DATA_TYPES,
        SKLEARN_HELPER_TYPES,
        allowed_types,
    )

    names = allowed_types()
    ufuncs = set(skops_default.NUMPY_UFUNC_TYPE_NAMES) | set(skops_default.SCIPY_UFUNC_TYPE_NAMES)
    assert len(ufuncs) > 300 and not ufuncs & names
    defaults = {
        *skops_default.SKLEARN_ESTIMATOR_TYPE_NAMES,
        *skops_default.SKLEARN_INTERNAL_TYPE_NAMES,
        *skops_default.NUMPY_DTYPE_TYPE_NAMES,
        *skops_default.PRIMITIVE_TYPE_NAMES,
        *skops_default.NUMPY_RANDOM_BIT_GENERATOR_TYPE_NAMES,
    }
    assert set(skops_default.SKLEARN_ESTIMATOR_TYPE_NAMES) <= names
    numpy_containers = {
        "numpy.ndarray",
        "numpy.dtype",
        "numpy.ma.core.MaskedArray",
        "numpy.random.mtrand.RandomState",
        "numpy.random._generator.Generator",
    }
    beyond = names - defaults - SKLEARN_HELPER_TYPES - PYTHON_DATA_TYPES - numpy_containers
    sparse = {
        n for n in beyond if n.startswith("scipy.sparse._") and n.endswith(("matrix", "array"))
    }
    assert beyond == sparse, sorted(beyond - sparse)


# ---- through the real commands ----------------------------------------------------------------
E2E_PROJECT = """\
identity: os
name: hostile-artifacts
datasets:
  arrests: {target: released, protected: [colour, sex, age]}
models:
  arrests:
    owner: risk@example.org
    task: classification
    gates:
      dataset: arrests@1
      positive_label: "Yes"
      metrics: {thresholds: {accuracy: {min: 0.5}}}
"""


@pytest.mark.slow
def test_gate_serve_catalog_and_dashboard_through_real_commands(
    tmp_path: Path,
    train: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Bytes written straight into a real project: ``modelyard gate`` exits refusing, a real
    ``modelyard serve`` starts, serves the legit model, refuses every hostile version (and keeps
    refusing on each retry and request); the marker never appears. ``modelyard catalog`` and the
    dashboard show which version was registered with trust=True, by whom and when."""
    import httpx

    from modelyard.registry.registry import Registry
    from tests.support.servers import MODELYARD, served
    from tests.support.ui import client as dashboard_client

    root = tmp_path / "proj"
    root.mkdir()
    (root / "modelyard.yaml").write_text(E2E_PROJECT)
    marker = tmp_path / "marker"
    hostile = corpus(marker, train)
    env = {"MODELYARD_USER": "tester"}
    with Registry.init(root, env=env) as reg:
        reg.add_dataset(train, "arrests", source="sklego arrests (first 400 rows)")
        with reg.start_run(model="arrests") as run:
            good = run.log_model(_benign_pipeline(train), sample_input=train[FEATURES].head(5))
            logs = _pipeline(_ft(np.log1p)).fit(train[NUMERIC].astype(float))
            trusted = run.log_model(logs, sample_input=train[NUMERIC].head(5), trust=True)
        bad = [_store_directly(reg, "arrests", h, "sklearn.pipeline.Pipeline") for h in hostile]

    child = {**os.environ, **env, "COLUMNS": "200", "NO_COLOR": "1"}
    child.pop("MODELYARD_PROJECT", None)
    # The real console script for the reproduction and a hand-edited file; the same
    # entry point in this process for every case (an interpreter start costs ~7 s here).
    for h, mv in zip(hostile, bad, strict=True):
        if h.name.startswith(("np.vectorize of numpy", "hand-edited skops: numpy")):
            out = subprocess.run(
                [MODELYARD, "gate", mv.ref, "--project", str(root)],
                capture_output=True,
                text=True,
                env=child,
                timeout=300,
                check=False,
            )
            assert out.returncode == 2, (h.name, out.stdout, out.stderr)
            assert h.offending in out.stderr.replace("\n", " "), (h.name, out.stderr)
    from modelyard.cli.main import main

    for key, value in {**env, "COLUMNS": "400", "NO_COLOR": "1"}.items():
        monkeypatch.setenv(key, value)
    refused_by_gate = 0
    for h, mv in zip(hostile, bad, strict=True):
        monkeypatch.setattr(sys, "argv", ["modelyard", "gate", mv.ref, "--project", str(root)])
        with pytest.raises(SystemExit) as exited:
            main()
        err = capsys.readouterr().err.replace("\n", " ")
        assert exited.value.code == 2 and h.offending in err, (h.name, err)
        refused_by_gate += 1
    assert not marker.exists()

    with Registry.open(root, env=env) as reg:  # an operator approves and deploys them all
        for i, mv in enumerate([good, *bad]):
            reg.transition(mv, "validated", reason="validated (test)")
            reg.transition(mv, "approved", reason="approved (test)", actor="reviewer")
            reg.deploy(mv, f"h{i - 1}" if i else "ok", reason="test plan")
    refused_by_serve = 0
    with served(root, log=tmp_path / "serve.log", env=env) as (base, _proc):
        ok = httpx.post(
            f"{base}/v1/models/ok:predict",
            json={"instances": train[FEATURES].head(2).to_dict("records")},
            timeout=30,
        )
        assert ok.status_code == 200, ok.text
        for i, (h, mv) in enumerate(zip(hostile, bad, strict=True)):
            ready = httpx.get(f"{base}/v2/models/h{i}/versions/{mv.version}/ready", timeout=10)
            assert ready.status_code == 503 and "refusing" in ready.text, (h.name, ready.text)
            assert h.offending in ready.text, (h.name, ready.text)
            answer = httpx.post(
                f"{base}/v1/models/h{i}:predict",
                json={"instances": train[FEATURES].head(2).to_dict("records")},
                timeout=30,
            )
            assert answer.status_code == 503, (h.name, answer.text)
            refused_by_serve += 1
    assert not marker.exists()
    print(f"hostile artifacts refused by gate {refused_by_gate}/{len(hostile)}")
    print(f"hostile artifacts refused by serve {refused_by_serve}/{len(hostile)}")

    cat = subprocess.run(
        [MODELYARD, "catalog", "--project", str(root)],
        capture_output=True,
        text=True,
        env=child,
        timeout=120,
        check=True,
    )
    assert f"{trusted.ref} by tester at" in cat.stdout, cat.stdout
    assert f"{good.ref} by" not in cat.stdout

    with Registry.open(root, env=env) as reg, dashboard_client(reg, local=True) as client:
        page = client.get("/ui/")
        assert page.status_code == 200 and "trusted by tester at" in page.text
        version = client.get(f"/ui/models/{trusted.ref}")
        assert "registered with trust=True by tester at" in version.text
        assert "numpy.log1p" in version.text
        legit = client.get(f"/ui/models/{good.ref}")
        assert "untrusted: allow-listed types only" in legit.text
