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


_LGBM_CLASSES = frozenset({"LGBMClassifier", "LGBMRegressor", "LGBMRanker"})


def _json_params(model: Any) -> dict[str, Any]:
    """The estimator's constructor parameters that JSON can hold (callables are left out)."""
    import json

    out: dict[str, Any] = {}
    for key, value in model.get_params(deep=False).items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        out[key] = value
    return out


class LightGBMFlavor:
    """LightGBM's text model format. A scikit-learn wrapper (``LGBMClassifier`` …) comes back
    as the same wrapper — ``classes_``, ``predict_proba`` and all — rebuilt around the loaded
    booster from the recorded parameters and classes, so a classifier gates and serves."""

    name = "lightgbm"

    def matches(self, model: Any) -> bool:
        return type(model).__module__.startswith("lightgbm")

    def dump(self, model: Any) -> tuple[bytes, dict[str, Any]]:
        booster = model.booster_ if hasattr(model, "booster_") else model
        info: dict[str, Any] = {"class": _qualname(model)}
        if hasattr(model, "booster_"):
            info["params"] = _json_params(model)
            info["objective"] = getattr(model, "_objective", None)
            info["feature_names"] = bool(getattr(model, "_fitted_with_feature_names", False))
        if hasattr(model, "classes_"):
            info["classes"] = [c.item() if hasattr(c, "item") else c for c in model.classes_]
        return booster.model_to_string().encode(), info

    def check(self, data: bytes, trusted: bool) -> list[str]:
        return []  # LightGBM's text model format: no code in it

    def load(self, data: bytes, info: dict[str, Any], trusted: bool) -> Any:
        import lightgbm

        booster = lightgbm.Booster(model_str=data.decode())
        cls = str(info.get("class", "")).rsplit(".", 1)[-1]
        if cls not in _LGBM_CLASSES or "params" not in info:
            return booster  # a plain Booster (or a version logged before wrappers came back)
        return _lgbm_wrapper(getattr(lightgbm, cls), booster, info)


def _lgbm_wrapper(cls: Any, booster: Any, info: dict[str, Any]) -> Any:
    """A fitted ``cls`` around ``booster``. LightGBM has no public way to attach a booster to
    its scikit-learn wrapper, so this sets the attributes its own ``fit`` sets (LightGBM 4.x);
    the round-trip tests hold predictions to the original's."""
    import numpy as np

    model = cls(**dict(info["params"]))
    n = booster.num_feature()
    model._Booster = booster
    model.fitted_ = True
    model._n_features = model._n_features_in = n
    model._objective = info.get("objective") or booster.params.get("objective")
    model._best_iteration = booster.best_iteration
    model._best_score = {}
    model._evals_result = {}
    model._other_params = {}
    model._class_weight = None
    model._fitted_with_feature_names = bool(info.get("feature_names"))
    if "classes" in info:
        from sklearn.preprocessing import LabelEncoder

        classes = np.asarray(info["classes"])
        model._le = LabelEncoder().fit(classes)
        model._classes = model._le.classes_
        model._n_classes = len(model._classes)
        model._class_map = dict(zip(model._le.classes_, model._le.transform(classes), strict=True))
    return model


class BoostedPipelineFlavor:
    """A scikit-learn Pipeline ending in an XGBoost or LightGBM model, as one composite artifact:
    the steps before it through skops (the same allow-list as any scikit-learn artifact) and the
    final model in its native format, in a zip with a manifest. So a preprocessing pipeline with
    a boosted model loads without ``trust=True``; skops alone would have to trust the boosted
    wrapper's pickled state."""

    name = "sklearn-boosted"
    _MANIFEST = "manifest.json"

    @staticmethod
    def _final_flavor(model: Any) -> Flavor | None:
        for f in (_FLAVORS["xgboost"], _FLAVORS["lightgbm"]):
            if f.matches(model):
                return f
        return None

    def matches(self, model: Any) -> bool:
        if type(model).__name__ != "Pipeline" or not hasattr(model, "steps") or not model.steps:
            return False
        last = model.steps[-1][1]
        return len(model.steps) >= 2 and self._final_flavor(last) is not None

    def dump(self, model: Any) -> tuple[bytes, dict[str, Any]]:
        import json
        import zipfile

        from sklearn.pipeline import Pipeline

        name, last = model.steps[-1]
        final = self._final_flavor(last)
        assert final is not None
        prefix_bytes, prefix_info = _FLAVORS["sklearn"].dump(Pipeline(model.steps[:-1]))
        final_bytes, final_info = final.dump(last)
        manifest = {
            "final_step": name,
            "final_flavor": final.name,
            "final_info": final_info,
            "prefix_types": prefix_info["types"],
        }
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(self._MANIFEST, json.dumps(manifest))
            zf.writestr("prefix.skops", prefix_bytes)
            zf.writestr("final.bin", final_bytes)
        return buf.getvalue(), {"class": _qualname(model), "final": final_info["class"]}

    def _parts(self, data: bytes) -> tuple[dict[str, Any], bytes, bytes]:
        import json
        import zipfile

        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                if set(zf.namelist()) != {self._MANIFEST, "prefix.skops", "final.bin"}:
                    raise UnsafeArtifact(
                        "refusing a composite artifact whose members are not exactly "
                        "manifest.json, prefix.skops and final.bin"
                    )
                manifest = json.loads(zf.read(self._MANIFEST))
                prefix, final = zf.read("prefix.skops"), zf.read("final.bin")
        except (zipfile.BadZipFile, ValueError, KeyError) as exc:
            raise UnsafeArtifact(f"refusing a malformed composite artifact: {exc}") from None
        if manifest.get("final_flavor") not in ("xgboost", "lightgbm") or not isinstance(
            manifest.get("final_step"), str
        ):
            raise UnsafeArtifact(
                "refusing a composite artifact: its final model must be xgboost or lightgbm"
            )
        return manifest, prefix, final

    def check(self, data: bytes, trusted: bool) -> list[str]:
        _, prefix, _ = self._parts(data)
        return _FLAVORS["sklearn"].check(prefix, trusted)

    def load(self, data: bytes, info: dict[str, Any], trusted: bool) -> Any:
        from sklearn.pipeline import Pipeline

        manifest, prefix_bytes, final_bytes = self._parts(data)
        prefix = _FLAVORS["sklearn"].load(prefix_bytes, {}, trusted)
        final = _FLAVORS[manifest["final_flavor"]].load(
            final_bytes, dict(manifest.get("final_info") or {}), trusted
        )
        return Pipeline([*prefix.steps, (manifest["final_step"], final)])


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
    for f in (
        SklearnFlavor(),
        XGBoostFlavor(),
        LightGBMFlavor(),
        BoostedPipelineFlavor(),
        OnnxFlavor(),
        PickleFlavor(),
    )
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
    for name in ("xgboost", "lightgbm", "sklearn-boosted", "onnx", "sklearn"):
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
