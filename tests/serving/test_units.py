"""Deterministic unit checks: decoders and schema on arbitrary input, limiter and cache clocks."""

from __future__ import annotations

import contextlib
import json

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
def test_v1_decoding_and_validation_only_ever_refuse_with_invalid_input(doc):
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
def test_v2_decoding_and_validation_only_ever_refuse_with_invalid_input(tensor, blob):
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


def test_limiter_rate_refills_on_the_clock():
    now = [0.0]
    lim = Limiter("e", ThrottleConfig(rate_per_s=2, burst=2), clock=lambda: now[0])
    lim.enter(), lim.leave(), lim.enter(), lim.leave()
    with pytest.raises(Throttled) as exc:
        lim.enter()
    assert exc.value.retry_after_s == pytest.approx(0.5)
    now[0] = 0.5
    lim.enter()
    lim.leave()


def test_limiter_concurrency():
    lim = Limiter("e", ThrottleConfig(max_concurrency=2))
    lim.enter(), lim.enter()
    with pytest.raises(Throttled):
        lim.enter()
    lim.leave()
    lim.enter()


def test_cache_ttl_and_bound():
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
