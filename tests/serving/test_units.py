"""Deterministic unit checks: decoders and schema on arbitrary input, limiter and cache clocks."""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.core.endpoint_config import ThrottleConfig
from modelyard.core.errors import InvalidInput
from modelyard.serving import protocol_v1, protocol_v2
from modelyard.serving.cache import PredictionCache
from modelyard.serving.errors import Throttled
from modelyard.serving.schema import InputSchema
from modelyard.serving.throttle import Limiter


def _dumps(doc: object) -> bytes:
    return json.dumps(doc).encode()


SCHEMA = InputSchema.from_signature(
    {
        "inputs": [
            {"name": "x", "type": "float"},
            {"name": "n", "type": "integer", "nullable": True},
            {"name": "c", "type": "string", "categories": ["a", "b"]},
            {"name": "f", "type": "boolean"},
        ]
    }
)
NUMERIC = InputSchema.from_signature(
    {"inputs": [{"name": "x", "type": "float"}, {"name": "y", "type": "float"}]}
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from("xncfz"), inner, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_v1_decoding_and_validation_only_ever_refuse_with_invalid_input(doc: object) -> None:
    for body in (
        _dumps({"instances": doc}),
        _dumps({"inputs": doc}),
        _dumps(doc),
    ):
        for schema in (SCHEMA, NUMERIC):
            with contextlib.suppress(InvalidInput):
                schema.validate(protocol_v1.decode(body), 100)


@settings(max_examples=150, deadline=None)
@given(json_values, st.binary(max_size=64))
def test_v2_decoding_and_validation_only_ever_refuse_with_invalid_input(
    tensor: object, blob: bytes
) -> None:
    docs = [
        {"inputs": [tensor]},
        {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": tensor}]},
        {
            "inputs": [
                {
                    "name": "c",
                    "shape": [2],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(blob)},
                }
            ]
        },
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": tensor,
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": len(blob)},
                }
            ]
        },
    ]
    for doc in docs:
        head = _dumps(doc)
        for schema in (SCHEMA, NUMERIC):
            try:
                req = protocol_v2.decode(head + blob, str(len(head)))
                schema.validate(req.payload, 100)
            except InvalidInput:
                pass


def test_limiter_rate_refills_on_the_clock() -> None:
    now = [0.0]
    lim = Limiter("e", ThrottleConfig(rate_per_s=2, burst=2), clock=lambda: now[0])
    for _ in range(2):
        lim.enter()
        lim.leave()
    with pytest.raises(Throttled) as exc:
        lim.enter()
    assert exc.value.retry_after_s == pytest.approx(0.5)
    now[0] = 0.5
    lim.enter()
    lim.leave()


def test_limiter_concurrency() -> None:
    lim = Limiter("e", ThrottleConfig(max_concurrency=2))
    lim.enter(), lim.enter()
    with pytest.raises(Throttled):
        lim.enter()
    lim.leave()
    lim.enter()


def test_cache_ttl_and_bound() -> None:
    now = [0.0]
    cache = PredictionCache(max_entries=2, ttl_s=10, clock=lambda: now[0])
    k = [(1, frozenset({"predict"}), bytes([i])) for i in range(3)]
    cache.put(k[0], {})
    cache.put(k[1], {})
    assert cache.get(k[0]) == {}  # k0 now most recent
    cache.put(k[2], {})  # evicts k1, the least recently used
    assert cache.get(k[1]) is None and cache.get(k[0]) == {}
    now[0] = 11
    assert cache.get(k[0]) is None  # expired
    assert (cache.hits, cache.misses) == (2, 2)


POLICY_SIG = {
    "inputs": [
        {"name": "x", "type": "float"},
        {"name": "c", "type": "string", "categories": ["a", "b"]},
    ]
}


@pytest.mark.parametrize(
    ("unseen", "extra", "record", "outcome"),
    [
        ("reject", "reject", {"x": 1.0, "c": "z"}, "unknown category 'z'"),
        ("pass", "reject", {"x": 1.0, "c": "z"}, ["z"]),
        ("as_missing", "reject", {"x": 1.0, "c": "z"}, [None]),
        ("pass", "reject", {"x": 1.0, "c": "a", "id": 7}, "unexpected (fields|tensors) 'id'"),
        ("pass", "ignore", {"x": 1.0, "c": "a", "id": 7}, ["a"]),
        ("pass", "ignore", {"x": 1.0, "id": 7}, "missing (fields|tensors) 'c'"),
    ],
)
def test_the_input_policy_decides_unseen_categories_and_extra_fields(
    unseen: str, extra: str, record: dict[str, object], outcome: object
) -> None:
    from modelyard.core.input_policy import Effective
    from modelyard.serving.frames import Payload

    schema = InputSchema.from_signature(POLICY_SIG, policy=Effective(unseen, extra))
    payloads = [
        Payload("records", [record], "instances"),
        Payload("columns", {k: [v] for k, v in record.items()}, "inputs"),
    ]
    for payload in payloads:
        if isinstance(outcome, str):
            with pytest.raises(InvalidInput, match=outcome):
                schema.validate(payload, 10)
        else:
            frame = schema.validate(payload, 10)
            column = frame.as_dataframe()["c"]  # the model reads a missing string as NaN
            assert [None if pd.isna(v) else v for v in column] == outcome


def test_the_signature_records_the_policy_its_pipeline_supports() -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
    from sklego.datasets import load_arrests

    from modelyard.registry.signature import infer_signature

    df = load_arrests(as_frame=True)
    cats, nums = ["colour", "sex", "employed", "citizen"], ["year", "age", "checks"]
    X, y = df[cats + nums], df["released"]
    schema = {"columns": [{"name": c, "categories": sorted(set(df[c]))} for c in cats]}

    def policy(encoder: object, final: object) -> str:
        pre = ColumnTransformer([("cat", encoder, cats), ("num", StandardScaler(), nums)])
        model = make_pipeline(pre, final).fit(X, y)
        return str(infer_signature(model, X.head(), schema)["input_policy"]["unseen_categories"])

    lr = LogisticRegression(max_iter=500)
    assert policy(OneHotEncoder(handle_unknown="ignore"), lr) == "pass"
    assert (
        policy(OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5), lr) == "pass"
    )
    assert policy(OneHotEncoder(), lr) == "reject"  # handle_unknown="error"
    ordinal = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    assert policy(ordinal, HistGradientBoostingClassifier(max_iter=10)) == "pass"
    assert policy(OrdinalEncoder(), HistGradientBoostingClassifier(max_iter=10)) == "reject"
    # the usual impute-then-encode sub-pipeline: the encoder after the imputer decides
    from sklearn.impute import SimpleImputer

    imputed = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="missing"),
        OneHotEncoder(handle_unknown="ignore"),
    )
    assert policy(imputed, lr) == "pass"
    strict = make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder())
    assert policy(strict, lr) == "reject"
    # a step that reshapes columns before the encoder hides it: not inferred
    from sklearn.preprocessing import FunctionTransformer

    hidden = make_pipeline(FunctionTransformer(), OneHotEncoder(handle_unknown="ignore"))
    assert policy(hidden, lr) == "reject"


def test_tensor_type_errors_name_the_column_kind_in_good_english() -> None:
    import numpy as np

    from modelyard.serving.frames import Payload

    schema = InputSchema.from_signature(
        {"inputs": [{"name": "n", "type": "integer"}, {"name": "c", "type": "string"}]}
    )
    texts = np.array(["a"], dtype=object)
    with pytest.raises(InvalidInput, match="numeric tensor for an integer column"):
        schema.validate(Payload("tensors", [("n", texts), ("c", texts)], "inputs"), 10)
    with pytest.raises(InvalidInput, match="BYTES tensor for a string column"):
        schema.validate(
            Payload("tensors", [("n", np.array([1])), ("c", np.array([1]))], "inputs"), 10
        )


def test_a_scaled_boolean_input_does_not_hide_the_encoders_policy() -> None:
    """A bool column that the pipeline scales (no encoder reads it) cannot take an unseen
    value: the one-hot encoder of the real categorical decides the policy."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from modelyard.registry.signature import infer_signature

    X = pd.DataFrame(
        {"band": ["a", "b", "c", "a"] * 5, "big": [True, False] * 10, "x": np.arange(20.0)}
    )
    y = np.arange(20) % 2
    pre = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["band"]),
            ("num", StandardScaler(), ["big", "x"]),
        ]
    )
    model = make_pipeline(pre, LogisticRegression()).fit(X, y)
    schema = {
        "columns": [
            {"name": "band", "categories": ["a", "b", "c"]},
            {"name": "big", "categories": ["False", "True"]},  # as a dataset profile has it
        ]
    }
    assert infer_signature(model, X.head(), schema)["input_policy"]["unseen_categories"] == "pass"
