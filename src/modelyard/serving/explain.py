"""TreeSHAP explanations for tree ensembles, through the optional ``shap`` package.

``tree_explainer(model)`` recognises a tree ensemble (scikit-learn RandomForest, ExtraTrees,
GradientBoosting, HistGradientBoosting and decision trees, LightGBM, XGBoost — alone or as the
last step of a Pipeline) and returns a :class:`TreeExplanation`, or None for other models. The
explainer itself is built on first use and runs on a worker thread (the app calls it through
``run_in_executor``): TreeSHAP costs milliseconds per row, never the event loop's time.

Contributions and ``base`` sum to the model's raw tree output for the row, in the space shap
reports (``space``): ``probability`` for forests of classifiers (each class), ``log_odds`` for
boosted classifiers (the margin of the positive class), ``raw_value`` for regressors. When the
pipeline one-hot encodes inputs before the trees, the contributions of a feature's indicator
columns are summed back to that input feature (``aggregated`` says so); a preprocessing step
that mixes features (PCA, polynomials) cannot be mapped back and answers 422.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from modelyard.core.errors import InvalidInput
from modelyard.serving.frames import Frame

TREE_MODELS = frozenset(
    {
        "RandomForestClassifier",
        "RandomForestRegressor",
        "ExtraTreesClassifier",
        "ExtraTreesRegressor",
        "GradientBoostingClassifier",
        "GradientBoostingRegressor",
        "HistGradientBoostingClassifier",
        "HistGradientBoostingRegressor",
        "DecisionTreeClassifier",
        "DecisionTreeRegressor",
        "LGBMClassifier",
        "LGBMRegressor",
        "XGBClassifier",
        "XGBRegressor",
        "Booster",  # native LightGBM / XGBoost
    }
)
EXTRA_HINT = "install the explain extra: pip install 'modelyard[explain]' (the shap package)"


def split(model: Any) -> tuple[list[Any], Any]:
    """A Pipeline's preprocessing steps and final estimator (a bare model: no steps)."""
    steps = getattr(model, "steps", None)
    if steps is None:
        return [], model
    pre = [s for _, s in steps[:-1] if s is not None and s != "passthrough"]
    return pre, steps[-1][1]


def is_tree_model(est: Any) -> bool:
    name = type(est).__name__
    if name == "Booster":
        return type(est).__module__.split(".")[0] in ("lightgbm", "xgboost")
    return name in TREE_MODELS


def tree_explainer(model: Any, names: tuple[str, ...]) -> TreeExplanation | None:
    pre, est = split(model)
    if not is_tree_model(est):
        return None
    return TreeExplanation(model, pre, est, names)


class TreeExplanation:
    method = "TreeSHAP"

    def __init__(self, model: Any, pre: list[Any], est: Any, names: tuple[str, ...]) -> None:
        self.model = model
        self.pre = pre
        self.est = est
        self.names = names
        self.frame_input = hasattr(model, "feature_names_in_") or bool(pre)
        self.explainer: Any = None
        self.owner: np.ndarray | None = None  # transformed column → input feature index
        self.aggregated = False
        self.lock = threading.Lock()

    def _setup(self) -> None:
        try:
            import shap
        except ImportError:
            raise InvalidInput(
                f"TreeSHAP explanations need the shap package, which is not installed on this "
                f"server ({type(self.est).__name__})",
                hint=EXTRA_HINT,
            ) from None
        owner = np.arange(len(self.names))
        for step in self.pre:
            owner = _map_step(step, owner, self.names)
        self.aggregated = len(owner) != len(self.names)
        self.owner = owner
        try:
            self.explainer = shap.TreeExplainer(self.est)
        except Exception as exc:  # shap does not support this model or configuration
            raise InvalidInput(
                f"shap {shap.__version__} cannot explain {type(self.est).__name__}: {exc}",
                hint="TreeSHAP covers forests, gradient boosting, LightGBM and XGBoost",
            ) from None
        self.shap_version = str(shap.__version__)

    def __call__(self, frame: Frame) -> dict[str, Any]:
        """Blocking: contributions per input feature, base value and space."""
        with self.lock:
            if self.explainer is None:
                self._setup()
        X: Any = frame.as_dataframe() if self.frame_input else frame.as_matrix()
        for step in self.pre:
            X = step.transform(X)
        if hasattr(X, "toarray"):
            X = X.toarray()
        if type(self.est).__name__ == "Booster" and type(self.est).__module__.startswith("xgb"):
            import xgboost

            X = xgboost.DMatrix(np.asarray(X, dtype=np.float64))
        values = self.explainer.shap_values(X, check_additivity=False)
        contrib = _rows_outputs_features(values, frame.n)
        assert self.owner is not None
        if self.aggregated:
            to_inputs = np.zeros((len(self.owner), len(self.names)))
            to_inputs[np.arange(len(self.owner)), self.owner] = 1.0
            contrib = contrib @ to_inputs
        base = np.atleast_1d(np.asarray(self.explainer.expected_value, dtype=np.float64))
        if len(base) != contrib.shape[1]:
            base = np.resize(base, contrib.shape[1])
        space = str(getattr(getattr(self.explainer, "model", None), "tree_output", "raw_value"))
        out: dict[str, Any] = {
            "space": space,
            "base": base,
            "contributions": contrib,
            "method": f"TreeSHAP (shap {self.shap_version})",
        }
        if self.aggregated:
            out["aggregated"] = (
                "one-hot encoded columns are summed back to the input feature they encode"
            )
        classes = getattr(self.model, "classes_", None)
        if classes is not None and contrib.shape[1] == len(classes):
            out["outputs"] = [c.item() if hasattr(c, "item") else c for c in classes]
        return out


def _rows_outputs_features(values: Any, rows: int) -> np.ndarray:
    """shap's shapes (a list per class, (rows, features) or (rows, features, outputs)) as
    one (rows, outputs, features) array."""
    if isinstance(values, list):
        return np.stack([np.asarray(v, dtype=np.float64) for v in values], axis=1)
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr.reshape(rows, -1)
    if arr.ndim == 2:
        return arr[:, None, :]
    return arr.transpose(0, 2, 1)


def _map_step(step: Any, owner: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """Which input feature each output column of one preprocessing step comes from."""
    kind = type(step).__name__
    if kind == "ColumnTransformer":
        return _map_columns(step, owner, names)
    if kind == "OneHotEncoder":
        return _map_onehot(step, owner)
    width = getattr(step, "n_features_in_", None)
    out = _output_width(step, width)
    if out is not None and out == len(owner):
        return owner  # element-wise (scalers, imputers keeping every column)
    raise InvalidInput(
        f"cannot attribute TreeSHAP contributions back to input features through a "
        f"{kind} step (it mixes or drops features)",
        hint="explanations aggregate one-to-one steps and one-hot encoders only",
    )


def _output_width(step: Any, width: int | None) -> int | None:
    try:
        return len(step.get_feature_names_out())
    except Exception:
        return width


def _map_columns(ct: Any, owner: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    current = [names[i] for i in owner] if len(owner) == len(names) else None
    parts: list[tuple[int, np.ndarray]] = []
    for name, trans, cols in ct.transformers_:
        sl = ct.output_indices_.get(name)
        if trans == "drop" or sl is None or sl.stop == sl.start:
            continue
        idx = _column_indices(cols, current, len(owner))
        sub = owner[idx]
        if trans == "passthrough":
            mapped = sub
        elif type(trans).__name__ == "OneHotEncoder":
            mapped = _map_onehot(trans, sub)
        elif getattr(trans, "steps", None) is not None:
            mapped = sub
            for _, inner in trans.steps:
                if inner is None or inner == "passthrough":
                    continue
                if type(inner).__name__ == "OneHotEncoder":
                    mapped = _map_onehot(inner, mapped)
                else:
                    mapped = _map_step(inner, mapped, names)
        else:
            mapped = _map_step(trans, sub, names)
        if len(mapped) != sl.stop - sl.start:
            raise InvalidInput(f"cannot map the columns of transformer {name!r} to its inputs")
        parts.append((sl.start, mapped))
    parts.sort(key=lambda p: p[0])
    return np.concatenate([m for _, m in parts]) if parts else np.array([], dtype=int)


def _column_indices(cols: Any, current: list[str] | None, width: int) -> list[int]:
    if isinstance(cols, slice):
        return list(range(width))[cols]
    seq = list(cols) if not isinstance(cols, (str, int)) else [cols]
    if seq and isinstance(seq[0], (bool, np.bool_)):
        return [i for i, keep in enumerate(seq) if keep]
    if seq and isinstance(seq[0], str):
        if current is None:
            raise InvalidInput("cannot resolve column names after a preceding step")
        return [current.index(str(c)) for c in seq]
    return [int(c) for c in seq]


def _map_onehot(enc: Any, owner: np.ndarray) -> np.ndarray:
    """One-hot: categories_ tells how many indicator columns each input became."""
    out: list[int] = []
    drop = getattr(enc, "drop_idx_", None)
    infrequent = getattr(enc, "_infrequent_enabled", False)
    if infrequent:
        raise InvalidInput("cannot map a one-hot encoder with infrequent categories back")
    for j, cats in enumerate(enc.categories_):
        n = len(cats)
        if drop is not None and drop[j] is not None:
            n -= 1
        out.extend([int(owner[j])] * n)
    return np.asarray(out, dtype=int)
