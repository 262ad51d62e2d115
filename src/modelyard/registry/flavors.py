"""Model flavours: how each kind of model is turned into safe bytes and back.

Each flavour is a small object with ``matches``, ``dump``, ``check`` and ``load``. scikit-learn
goes through skops, and an artifact loads without ``trust=True`` only when every type in it is on
the exact allow-list of :mod:`modelyard.registry.skops_policy` (checked when it is logged and
again at every load); XGBoost and LightGBM through their native text/JSON formats, ONNX as is.
Pickle exists only behind an explicit ``trust=True`` that is recorded with the version. Flavours
are looked up by name lazily, so their libraries load only when used.
"""

from __future__ import annotations

import io
from typing import Any, Protocol

from modelyard.core.errors import InvalidInput, UnsafeArtifact

_TRUST_HINT = (
    "register it again with trust=True if you trust its author (recorded in the audit log)"
)


class Flavor(Protocol):
    name: str

    def matches(self, model: Any) -> bool: ...
    def dump(self, model: Any) -> tuple[bytes, dict[str, Any]]: ...
    def check(self, data: bytes, trusted: bool) -> list[str]:
        """Refuse (``UnsafeArtifact``) bytes that may run code unless ``trusted``; return what
        needed the trust (empty when nothing did)."""
        ...

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

    def check(self, data: bytes, trusted: bool) -> list[str]:
        from modelyard.registry.skops_policy import audit

        return self._checked(audit(data)[0], trusted)

    def _checked(self, refused: list[str], trusted: bool) -> list[str]:
        if refused and not trusted:
            raise UnsafeArtifact(
                "refusing an artifact that was not registered with trust=True: it contains "
                f"types outside modelyard's allow-list: {', '.join(refused)}",
                hint=_TRUST_HINT,
            )
        return refused

    def load(self, data: bytes, info: dict[str, Any], trusted: bool) -> Any:
        """``info`` (from the version's card) is never believed: the bytes are audited, then
        skops loads them trusting exactly the allowed names found (its own audit runs again)."""
        import skops.io as sio

        from modelyard.registry.skops_policy import audit, check_tree_bounds

        refused, seen = audit(data, skops_audit=False)
        self._checked(refused, trusted)
        names = sio.get_untrusted_types(data=data) if trusted else seen
        try:
            model = sio.loads(data, trusted=names)
        except (TypeError, ValueError, KeyError, AttributeError, ImportError) as exc:
            raise UnsafeArtifact(
                f"refusing to load: skops could not rebuild the artifact: {exc}"
            ) from None
        check_tree_bounds(model)
        return model


XGBOOST_CLASSES = frozenset(
    {"Booster", "XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier", "XGBRFRegressor"}
)


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

    def check(self, data: bytes, trusted: bool) -> list[str]:
        return []  # JSON model parsed by XGBoost's own loader: no code in it

    def load(self, data: bytes, info: dict[str, Any], trusted: bool) -> Any:
        import xgboost

        cls = info.get("class", "xgboost.core.Booster").rsplit(".", 1)[-1]
        if cls not in XGBOOST_CLASSES:  # the class name comes from the store: never call it blind
            raise UnsafeArtifact(
                f"refusing to load: unknown XGBoost class {cls!r}; expected one of "
                f"{', '.join(sorted(XGBOOST_CLASSES))}"
            )
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

    def check(self, data: bytes, trusted: bool) -> list[str]:
        return []  # LightGBM's text model format: no code in it

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

    def check(self, data: bytes, trusted: bool) -> list[str]:
        return []  # a protobuf graph of ONNX operators; no custom-op libraries are registered

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

    def check(self, data: bytes, trusted: bool) -> list[str]:
        if not trusted:
            raise UnsafeArtifact(
                "refusing to unpickle an artifact that was not registered with trust=True",
                hint=_TRUST_HINT,
            )
        return ["pickle"]

    def load(self, data: bytes, info: dict[str, Any], trusted: bool) -> Any:
        self.check(data, trusted)
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
