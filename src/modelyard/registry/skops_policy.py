"""Which scikit-learn artifacts load without ``trust=True``: an exact allow-list, never a prefix.

A skops file is a zip whose ``schema.json`` names, for every object, a loader (how to rebuild
it) and a ``module.class`` (what to rebuild). skops refuses types it does not trust by default,
but its defaults include every NumPy and SciPy ufunc as a *function*, and any list we pass as
``trusted=`` is added to them. So modelyard reads the schema itself first, before skops builds
anything (hand-written: skops has no API to list every object with its loader):

* data loaders (objects, containers, arrays, dtypes, trees, losses, random states) may name
  only a type on :func:`allowed_types`: scikit-learn's public estimators
  (``sklearn.utils.all_estimators``), the reviewed helper types they are made of, NumPy/SciPy
  data types and Python containers, each by its exact ``module.class``;
* loaders that yield or call a callable (functions, ``functools.partial``, bound methods,
  ``operator.methodcaller``/``attrgetter``/``itemgetter``, constructor-from-reduce) are never
  trusted implicitly, whatever they name: ``FunctionTransformer(np.log1p)`` needs ``trust=True``
  just as ``FunctionTransformer(eval)`` does. The one exception is :data:`REVIEWED_FUNCTIONS`,
  scikit-learn functions its own estimators embed (HistGradientBoosting's categorical
  preprocessor holds ``partial(check_array, ...)``, ``SelectKBest`` its score function), each
  named exactly, pure computations on arrays whatever arguments a file gives them;
* any other loader (a newer skops protocol, a hand-edited file) is refused.

skops then audits the file again with the names found (``get_untrusted_types``) and loads it
with exactly those names trusted. Decision trees and HistGradientBoosting predictors are on
the list although skops does not trust them by default (their node arrays are indexed without
bounds checks): :func:`check_tree_bounds` verifies every index after loading, before any
``predict`` can read out of bounds.
"""

from __future__ import annotations

import io
import json
import zipfile
from functools import lru_cache
from typing import Any

from modelyard.core.errors import UnsafeArtifact

# Loaders that rebuild data from the file; the names they carry must be on the allow-list.
DATA_LOADERS = frozenset(
    {
        "ObjectNode",
        "DictNode",
        "DefaultDictNode",
        "ListNode",
        "SetNode",
        "TupleNode",
        "JsonNode",
        "BytesNode",
        "BytearrayNode",
        "SliceNode",
        "TypeNode",
        "NdArrayNode",
        "MaskedArrayNode",
        "DTypeNode",
        "RandomStateNode",
        "RandomGeneratorNode",
        "SparseMatrixNode",
        "LossNode",
        "TreeNode",
    }
)
# Loaders that return or call a callable named by the file: never trusted implicitly.
CALLABLE_LOADERS = {
    "FunctionNode": "a function",
    "PartialNode": "a functools.partial",
    "MethodNode": "a bound method",
    "OperatorFuncNode": "an operator callable",
    "ConstructorFromReduceNode": "a constructor call",
}
# A back-reference to an object already audited in the same file.
CACHED_LOADER = "CachedNode"

# scikit-learn's loss classes (Python, and the Cython ones the Python ones hold)
_LOSSES = (
    "AbsoluteError",
    "ExponentialLoss",
    "HalfBinomialLoss",
    "HalfGammaLoss",
    "HalfMultinomialLoss",
    "HalfPoissonLoss",
    "HalfSquaredError",
    "HalfTweedieLoss",
    "HalfTweedieLossIdentity",
    "HuberLoss",
    "PinballLoss",
)

# scikit-learn types that are not public estimators but that fitted estimators are made of:
# links and losses (GradientBoosting, HistGradientBoosting, GLMs, SGD), HistGradientBoosting's
# binning and predictors, the tree structure, calibration and optimiser state, column
# selectors. Plain data holders; none of them calls anything named in the file.
SKLEARN_HELPER_TYPES = frozenset(
    {
        *(
            f"sklearn._loss.link.{n}"
            for n in (
                "HalfLogitLink",
                "IdentityLink",
                "Interval",
                "LogitLink",
                "LogLink",
                "MultinomialLogit",
            )
        ),
        *(f"sklearn._loss.loss.{n}" for n in _LOSSES),
        *(f"sklearn._loss._loss.Cy{n}" for n in _LOSSES),  # their Cython twins
        *(
            f"sklearn.linear_model._sgd_fast.{n}"
            for n in (
                "EpsilonInsensitive",
                "Hinge",
                "ModifiedHuber",
                "SquaredEpsilonInsensitive",
                "SquaredHinge",
            )
        ),
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",  # bounds-checked
        "sklearn.tree._tree.Tree",  # bounds-checked
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
        "sklearn.compose._column_transformer.make_column_selector",
        "sklearn.utils._bunch.Bunch",
    }
)
# scikit-learn functions that its estimators hold by default, by exact name (see above).
REVIEWED_FUNCTIONS = frozenset(
    {
        "sklearn.utils.validation.check_array",
        *(
            f"sklearn.feature_selection._univariate_selection.{n}"
            for n in ("f_classif", "f_regression", "chi2", "r_regression", "f_oneway")
        ),
        *(
            f"sklearn.feature_selection._mutual_info.{n}"
            for n in ("mutual_info_classif", "mutual_info_regression")
        ),
    }
)
PYTHON_DATA_TYPES = frozenset(
    f"builtins.{n}"
    for n in (
        "dict",
        "list",
        "tuple",
        "set",
        "str",
        "int",
        "float",
        "bool",
        "bytes",
        "bytearray",
        "slice",
    )
) | {"collections.OrderedDict", "collections.defaultdict"}


@lru_cache(maxsize=1)
def allowed_types() -> frozenset[str]:
    """Every ``module.class`` a data loader may name in an artifact that is not trusted."""
    import warnings

    import numpy as np
    import scipy.sparse
    from sklearn.utils import all_estimators

    names = set(SKLEARN_HELPER_TYPES | PYTHON_DATA_TYPES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _, cls in all_estimators():
            if cls.__module__.startswith("sklearn."):
                names.add(f"{cls.__module__}.{cls.__name__}")
    # NumPy: arrays, dtypes, scalar types, masked arrays, random states and bit generators.
    names |= {"numpy.ndarray", "numpy.dtype", "numpy.ma.core.MaskedArray"}
    names |= {f"{t.__module__}.{t.__name__}" for t in set(np.sctypeDict.values())}
    names |= {"numpy.random.mtrand.RandomState", "numpy.random._generator.Generator"}
    names |= {
        f"numpy.random.{n}"
        for n in dir(np.random)
        if isinstance(obj := getattr(np.random, n), type)
        and issubclass(obj, np.random.BitGenerator)
        and obj is not np.random.BitGenerator
    }
    # SciPy: the sparse matrix and array classes (their data is loaded without pickle).
    for n in dir(scipy.sparse):
        obj = getattr(scipy.sparse, n)
        bases = (scipy.sparse.spmatrix, scipy.sparse.sparray)  # abstract: never in a file
        sparse = isinstance(obj, type) and issubclass(obj, bases) and obj not in bases
        if sparse and obj.__module__.startswith("scipy.sparse."):  # scipy's own, by exact name
            names.add(f"{obj.__module__}.{obj.__name__}")
    return frozenset(names)


def refused_types(data: bytes) -> list[str]:
    """What in this skops file is outside the allow-list, each with how it would be loaded.

    Empty when the file may load without trust. Raises :class:`UnsafeArtifact` when the bytes
    are not a skops file at all."""
    return audit(data)[0]


def audit(data: bytes, skops_audit: bool = True) -> tuple[list[str], list[str]]:
    """(refused, seen): what is outside the allow-list, and every allowed name the file uses
    (to pass as skops' ``trusted=``, whose own audit at load is then the second opinion;
    ``skops_audit`` runs that audit here as well, for a message before anything is stored)."""
    schema = _schema(data)
    if not isinstance(schema, dict) or schema.get("protocol") != _protocol():
        # Older protocols load through skops' legacy node classes, which read other fields.
        got = schema.get("protocol") if isinstance(schema, dict) else None
        return [f"skops protocol {got!r} (this skops writes and audits {_protocol()})"], []
    allowed = allowed_types()
    refused: set[str] = set()
    vetted: set[str] = set()  # reviewed functions (and partials of them) seen in the file
    seen: set[str] = set()
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        stack.extend(node.values())
        if not {"__loader__", "__module__", "__class__"} & node.keys():
            continue
        loader, module, cls = node.get("__loader__"), node.get("__module__"), node.get("__class__")
        if loader == CACHED_LOADER:
            continue  # refers back to an object audited where it first appears
        if not (isinstance(loader, str) and isinstance(module, str) and isinstance(cls, str)):
            refused.add(f"{module}.{cls} (malformed entry, loader {loader!r})")
            continue
        name = f"{module}.{cls}"
        if _reviewed_function(loader, name, node):
            vetted.add(name)
            continue
        seen.add(name)
        if loader in CALLABLE_LOADERS:
            refused.add(f"{name} ({CALLABLE_LOADERS[loader]}: callables are never trusted)")
        elif loader not in DATA_LOADERS:
            refused.add(f"{name} (unknown loader {loader!r})")
        elif name not in allowed:
            refused.add(name)
    if not refused and skops_audit:
        # skops' own audit of the same file: it also sees names that ride inside data (the
        # bit generator of a numpy Generator, the method of a bound method).
        import skops.io as sio

        try:
            reported = sio.get_untrusted_types(data=data)
        except Exception as exc:  # a malformed tree: refuse, naming what skops said
            raise UnsafeArtifact(
                f"refusing to load: skops cannot audit the artifact: {exc}"
            ) from None
        refused |= {t for t in reported if t not in allowed and t not in vetted}
    return sorted(refused), sorted((seen & allowed) | vetted)


def _reviewed_function(loader: str, name: str, node: dict[str, Any]) -> bool:
    """A reference to a reviewed function, or a ``functools.partial`` of one (its arguments
    are audited like any other data in the file)."""
    if loader == "FunctionNode":
        return name in REVIEWED_FUNCTIONS
    if loader == "PartialNode" and name == "functools.partial":
        func = (node.get("content") or {}).get("func")
        return (
            isinstance(func, dict)
            and func.get("__loader__") == "FunctionNode"
            and f"{func.get('__module__')}.{func.get('__class__')}" in REVIEWED_FUNCTIONS
        )
    return False


@lru_cache(maxsize=1)
def _protocol() -> Any:
    """The skops file protocol this installation writes (read from a file it writes)."""
    import skops.io as sio

    return _schema(bytes(sio.dumps(0))).get("protocol")


def _schema(data: bytes) -> Any:
    if data[:1] == b"\x80":
        raise UnsafeArtifact(
            "refusing to load: the artifact is a pickle stream, not a skops file; "
            "pickles run code when loaded",
            hint="only versions registered with trust=True are stored and loaded with pickle",
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            raw = zf.read("schema.json")
        return json.loads(raw)
    except (zipfile.BadZipFile, KeyError, ValueError, RecursionError) as exc:
        raise UnsafeArtifact(
            f"refusing to load: the artifact is not a readable skops file ({exc})"
        ) from None


# ---- after loading: tree structures whose indices scikit-learn does not check -------------
def check_tree_bounds(model: Any) -> None:
    """Refuse a loaded model whose decision trees or HistGradientBoosting predictors hold node,
    child or feature indices out of range (hand-written: neither scikit-learn nor skops checks
    them, and ``predict`` would read outside the arrays)."""
    import numpy as np

    seen: set[int] = set()
    stack: list[tuple[Any, int | None]] = [(model, None)]
    while stack:
        obj, n_features = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, str | bytes | int | float):
            continue
        seen.add(id(obj))
        kind = type(obj).__name__
        if kind == "Tree" and type(obj).__module__ == "sklearn.tree._tree":
            _check_tree(obj)
            continue
        if kind == "TreePredictor":
            _check_predictor(obj, n_features)
            continue
        if isinstance(obj, list | tuple | set):
            stack.extend((v, n_features) for v in obj)
        elif isinstance(obj, dict):
            stack.extend((v, n_features) for v in obj.values())
        elif isinstance(obj, np.ndarray) and obj.dtype.kind == "O":
            stack.extend((v, n_features) for v in obj.ravel())
        elif hasattr(obj, "__dict__") and type(obj).__module__.startswith("sklearn."):
            n = getattr(obj, "n_features_in_", n_features)
            binner = getattr(obj, "_bin_mapper", None)
            if binner is not None and hasattr(binner, "n_bins_non_missing_"):
                n = len(binner.n_bins_non_missing_)
            stack.extend((v, n) for v in vars(obj).values())


def _refuse(what: str) -> UnsafeArtifact:
    return UnsafeArtifact(
        f"refusing to load: {what}; the artifact was crafted or corrupted",
        hint="re-register the model from its training run",
    )


def _check_tree(tree: Any) -> None:
    import numpy as np

    n = int(tree.node_count)
    left, right, feature = tree.children_left, tree.children_right, tree.feature
    if not (len(left) == len(right) == len(feature) == n and tree.value.shape[0] == n and n > 0):
        raise _refuse("sklearn.tree._tree.Tree arrays do not match its node count")
    leaf = left == -1
    if not np.array_equal(leaf, right == -1):
        raise _refuse("sklearn.tree._tree.Tree has a node with only one child")
    idx = np.arange(n)
    inner = ~leaf
    if inner.any() and (
        (left[inner] <= idx[inner]).any()
        or (right[inner] <= idx[inner]).any()
        or (left[inner] >= n).any()
        or (right[inner] >= n).any()
        or (feature[inner] < 0).any()
        or (feature[inner] >= int(tree.n_features)).any()
    ):
        raise _refuse("sklearn.tree._tree.Tree has a child or feature index out of range")


def _check_predictor(pred: Any, n_features: int | None) -> None:
    import numpy as np

    nodes = pred.nodes
    n = len(nodes)
    if n == 0:
        raise _refuse("a TreePredictor has no nodes")
    idx = np.arange(n)
    inner = ~nodes["is_leaf"].astype(bool)
    sub = nodes[inner]
    bad = (
        (sub["left"] <= idx[inner]).any()
        or (sub["right"] <= idx[inner]).any()
        or (sub["left"] >= n).any()
        or (sub["right"] >= n).any()
        or (n_features is not None and (sub["feature_idx"] >= n_features).any())
    )
    cat = sub[sub["is_categorical"].astype(bool)]
    if len(cat) and (cat["bitset_idx"] >= len(pred.raw_left_cat_bitsets)).any():
        bad = True
    if bad:
        raise _refuse("a HistGradientBoosting TreePredictor has a node index out of range")
