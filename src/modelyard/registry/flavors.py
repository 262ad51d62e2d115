"""Model flavours: how each kind of model is turned into safe bytes and back.

Each flavour is a small object with ``matches``, ``dump`` and ``load``. scikit-learn goes through
skops (only trusted types load), XGBoost and LightGBM through their native text/JSON formats,
ONNX as is. Pickle exists only behind an explicit ``trust=True`` that is recorded with the
version. Flavours are looked up by name lazily, so their libraries load only when used.
"""

from __future__ import annotations

import io
from typing import Any, Protocol

from modelyard.core.errors import InvalidInput, UnsafeArtifact

# Types skops may load without an explicit trust flag: scikit-learn and NumPy/SciPy internals.
SAFE_TYPE_PREFIXES = ("sklearn.", "numpy.", "scipy.sparse.", "collections.OrderedDict")


class Flavor(Protocol):
    name: str

    def matches(self, model: Any) -> bool: ...
    def dump(self, model: Any) -> tuple[bytes, dict[str, Any]]: ...
    def load(self, data: bytes, info: dict[str, Any], trusted: bool) -> Any: ...


class SklearnFlavor:
    name = "sklearn"

    def matches(self, model: Any) -> bool:
        try:
            from sklearn.base import BaseEstimator
        except ImportError:  # pragma: no cover
            return False
        return isinstance(model, BaseEstimator)

    def dump(self, model: Any) -> tuple[bytes, dict[str, Any]]:
        import skops.io as sio

        data = sio.dumps(model)
        types = sorted(sio.get_untrusted_types(data=data))
        return data, {"class": _qualname(model), "types": types}

    def load(self, data: bytes, info: dict[str, Any], trusted: bool) -> Any:
        import skops.io as sio

        untrusted = sio.get_untrusted_types(data=data)
        unsafe = [t for t in untrusted if not t.startswith(SAFE_TYPE_PREFIXES)]
        if unsafe and not trusted:
            raise UnsafeArtifact(
                f"refusing to load: the artifact contains types outside the trusted set: "
                f"{', '.join(sorted(unsafe))}",
                hint="register it again with trust=True if you trust its author",
            )
        return sio.loads(data, trusted=list(untrusted))


class XGBoostFlavor:
    name = "xgboost"

    def matches(self, model: Any) -> bool:
        return type(model).__module__.startswith("xgboost")

    def dump(self, model: Any) -> tuple[bytes, dict[str, Any]]:
        raw = (
            model.get_booster().save_raw("json")
            if hasattr(model, "get_booster")
            else model.save_raw("json")
        )
        return bytes(raw), {"class": _qualname(model)}

    def load(self, data: bytes, info: dict[str, Any], trusted: bool) -> Any:
        import xgboost

        cls = info.get("class", "xgboost.core.Booster").rsplit(".", 1)[-1]
        model = getattr(xgboost, cls)() if cls != "Booster" else xgboost.Booster()
        model.load_model(bytearray(data))
        return model


class LightGBMFlavor:
    name = "lightgbm"

    def matches(self, model: Any) -> bool:
        return type(model).__module__.startswith("lightgbm")

    def dump(self, model: Any) -> tuple[bytes, dict[str, Any]]:
        booster = model.booster_ if hasattr(model, "booster_") else model
        info: dict[str, Any] = {"class": _qualname(model)}
        if hasattr(model, "classes_"):
            info["classes"] = [c.item() if hasattr(c, "item") else c for c in model.classes_]
        return booster.model_to_string().encode(), info

    def load(self, data: bytes, info: dict[str, Any], trusted: bool) -> Any:
        import lightgbm

        return lightgbm.Booster(model_str=data.decode())


class OnnxFlavor:
    name = "onnx"

    def matches(self, model: Any) -> bool:
        return type(model).__name__ == "ModelProto" or isinstance(model, bytes | bytearray)

    def dump(self, model: Any) -> tuple[bytes, dict[str, Any]]:
        data = bytes(model) if isinstance(model, bytes | bytearray) else model.SerializeToString()
        return data, {"class": "onnx.ModelProto"}

    def load(self, data: bytes, info: dict[str, Any], trusted: bool) -> Any:
        import onnxruntime

        return onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])


class PickleFlavor:
    """Arbitrary Python objects. Unpickling runs code: only with ``trust=True``, recorded."""

    name = "pickle"

    def matches(self, model: Any) -> bool:
        return True

    def dump(self, model: Any) -> tuple[bytes, dict[str, Any]]:
        import pickle

        buf = io.BytesIO()
        pickle.dump(model, buf, protocol=5)
        return buf.getvalue(), {"class": _qualname(model)}

    def load(self, data: bytes, info: dict[str, Any], trusted: bool) -> Any:
        if not trusted:
            raise UnsafeArtifact(
                "refusing to unpickle an artifact that was not registered with trust=True"
            )
        import pickle

        return pickle.loads(data)


_FLAVORS: dict[str, Flavor] = {
    f.name: f
    for f in (SklearnFlavor(), XGBoostFlavor(), LightGBMFlavor(), OnnxFlavor(), PickleFlavor())
}


def flavor(name: str) -> Flavor:
    try:
        return _FLAVORS[name]
    except KeyError:
        raise InvalidInput(
            f"unknown model flavour {name!r}: expected one of {', '.join(sorted(_FLAVORS))}"
        ) from None


def detect(model: Any, trust: bool) -> Flavor:
    # XGBoost and LightGBM sklearn wrappers are also BaseEstimators: native formats win.
    for name in ("xgboost", "lightgbm", "onnx", "sklearn"):
        f = _FLAVORS[name]
        if f.matches(model):
            return f
    if trust:
        return _FLAVORS["pickle"]
    raise UnsafeArtifact(
        f"no safe format for {_qualname(model)}: modelyard stores scikit-learn (skops), "
        "XGBoost, LightGBM and ONNX models",
        hint="pass trust=True to store it with pickle (recorded as trusted)",
    )


def _qualname(obj: Any) -> str:
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"
