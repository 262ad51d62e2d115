"""Drift verdicts: which tests run per feature, how they decide, and multiplicity control.

Every feature gets all tests of its kind reported (KS, Wasserstein, PSI, Jensen-Shannon for
numbers; chi-square, PSI, Jensen-Shannon for categories). A few of them *decide*:

* distribution — the policy's test (default KS for numbers, chi-square for categories), which
  fires when its Holm-adjusted p-value is below ``alpha`` **and** the policy's effect (default
  Wasserstein in reference stds ≥ 0.1 for numbers, Jensen-Shannon distance ≥ 0.05 for
  categories) reaches the minimum practical effect. The p-value keeps small samples honest, the
  effect floor keeps huge samples from flagging trivial shifts. A policy with a ``threshold``
  instead decides on its test's statistic alone (e.g. ``psi >= 0.2``), uncalibrated.
* missingness — the missing share changed (p-value and |Δ share| ≥ ``missing_min_effect``);
* new categories — unseen values take more than the no-drift share (and at least
  ``new_category_min_share``);
* vanished categories — reference categories with no current row, beyond chance
  (hypergeometric, Bonferroni over the categories), holding ≥ ``vanished_min_share`` of the
  reference;
* cardinality — distinct values differ from the number expected at this sample size (≥ 20 %);
* out of range — numbers below the reference minimum or above its maximum take more than the
  reference's own share (exact exceedance test) and at least ``out_of_range_min_share``;
* sentinel — one number repeats far more often than in the reference (``sentinel_ratio`` times
  its reference share, hypergeometric test, Bonferroni over the distinct values) and gains at
  least ``sentinel_min_share``;
* multivariate — a domain classifier tells reference rows from current ones (AUC ≥ ``min_auc``).

All deciding p-values of one comparison form one Holm family, so the chance that a comparison of
two samples from the same distribution reports any drift is at most ``alpha``. A feature's
severity is ``critical`` when its effect reaches the policy's ``critical_effect`` (or the
missing share moves ≥ 0.1, or new or vanished categories take ≥ 5 %, or values out of range
or a sentinel take ≥ 1 %), else ``warning``.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from modelyard.monitoring import drift_tests
from modelyard.monitoring.columns import ColumnPair, pair_from_counts, pair_from_series
from modelyard.monitoring.freshness import DatetimeColumn, datetime_column
from modelyard.monitoring.layout import Kind
from modelyard.monitoring.stats import holm_adjusted

REPORTED: dict[str, tuple[str, ...]] = {
    "numeric": (
        "ks",
        "wasserstein",
        "psi",
        "jensenshannon",
        "missingness",
        "out_of_range",
        "sentinel",
    ),
    "categorical": (
        "chi2",
        "psi",
        "jensenshannon",
        "missingness",
        "new_categories",
        "vanished_categories",
        "cardinality",
    ),
}


@dataclass(frozen=True)
class FeaturePolicy:
    """How one feature's distribution drift is decided."""

    test: str
    effect: str
    min_effect: float
    critical_effect: float
    threshold: float | None = None  # decide on ``test`` statistic >= threshold (no p-value)

    def validate(self, where: str) -> None:
        for key in ("test", "effect"):
            name = getattr(self, key)
            try:
                drift_tests.get_test(name)
            except KeyError as exc:
                raise ValueError(f"{where}.{key}: {exc.args[0]}") from None
        if self.min_effect < 0 or self.critical_effect < self.min_effect:
            raise ValueError(
                f"{where}: need 0 <= min_effect <= critical_effect, got "
                f"{self.min_effect} and {self.critical_effect}"
            )


NUMERIC_DEFAULT = FeaturePolicy("ks", "wasserstein", min_effect=0.1, critical_effect=0.25)
CATEGORICAL_DEFAULT = FeaturePolicy("chi2", "jensenshannon", min_effect=0.05, critical_effect=0.15)


@dataclass(frozen=True)
class DriftSettings:
    """Every knob of a drift comparison, validated once (``validate``) at the boundary."""

    alpha: float = 0.05
    numeric: FeaturePolicy = NUMERIC_DEFAULT
    categorical: FeaturePolicy = CATEGORICAL_DEFAULT
    overrides: Mapping[str, FeaturePolicy] = field(default_factory=dict)
    missing_min_effect: float = 0.01
    new_category_min_share: float = 0.005
    vanished_min_share: float = 0.001
    cardinality_min_effect: float = 0.2
    out_of_range_min_share: float = 0.001
    sentinel_min_share: float = 0.002
    sentinel_ratio: float = 2.0
    bins: int = 10
    permutations: int = 999
    multivariate: bool = True
    multivariate_sample: int = 5000
    min_auc: float = 0.55
    seed: int = 0
    n_jobs: int = 0  # 0: one thread per core

    def validate(self) -> DriftSettings:
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if self.bins < 2:
            raise ValueError(f"bins must be >= 2, got {self.bins}")
        if self.sentinel_ratio < 1:
            raise ValueError(f"sentinel_ratio must be >= 1, got {self.sentinel_ratio}")
        if not 0.5 <= self.min_auc < 1:
            raise ValueError(f"min_auc must be in [0.5, 1), got {self.min_auc}")
        self.numeric.validate("numeric")
        self.categorical.validate("categorical")
        for name, pol in self.overrides.items():
            pol.validate(f"overrides.{name}")
        return self

    def policy(self, name: str, kind: Kind) -> FeaturePolicy:
        if name in self.overrides:
            return self.overrides[name]
        return self.numeric if kind == "numeric" else self.categorical

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftSettings:
        """From the ``monitoring.drift`` mapping of a project file (keys as the fields)."""
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown drift setting(s): {', '.join(unknown)}")
        kw: dict[str, Any] = dict(data)
        for key, default in (("numeric", NUMERIC_DEFAULT), ("categorical", CATEGORICAL_DEFAULT)):
            if key in kw:
                kw[key] = replace(default, **kw[key])
        if "overrides" in kw:
            kw["overrides"] = {
                name: _policy_from(v, kw.get("numeric", NUMERIC_DEFAULT))
                for name, v in kw["overrides"].items()
            }
        return cls(**kw).validate()


def _policy_from(data: Mapping[str, Any], base: FeaturePolicy) -> FeaturePolicy:
    data = dict(data)
    if "test" in data and "effect" not in data:
        data["effect"] = data["test"]
    if "threshold" in data and "min_effect" not in data:
        data["min_effect"] = 0.0
        data.setdefault("critical_effect", float(data["threshold"]) * 2)
    return replace(base, **data)


# ---- results ---------------------------------------------------------------------------
@dataclass
class Signal:
    """One deciding check of one feature (or of the whole frame)."""

    feature: str
    signal: str
    test: str
    p_value: float | None
    effect: float
    min_effect: float
    threshold: float | None = None
    p_adjusted: float | None = None
    drifted: bool = False


@dataclass
class FeatureResult:
    name: str
    kind: Kind
    role: str  # feature | prediction
    n_ref: int
    n_cur: int
    tests: dict[str, drift_tests.TestResult]
    signals: list[Signal]
    plot: dict[str, Any]
    drifted: bool = False
    severity: str = "none"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "role": self.role,
            "n_ref": self.n_ref,
            "n_cur": self.n_cur,
            "drifted": self.drifted,
            "severity": self.severity,
            "signals": [_signal_dict(s) for s in self.signals],
            "tests": {k: v.to_dict() for k, v in self.tests.items()},
            "plot": self.plot,
        }


@dataclass
class DriftResult:
    mode: str
    n_ref: int
    n_cur: int
    features: list[FeatureResult]
    prediction: FeatureResult | None
    multivariate: dict[str, Any] | None
    settings: DriftSettings
    elapsed_s: float = 0.0
    skipped: dict[str, str] = field(default_factory=dict)
    datetimes: list[DatetimeColumn] = field(default_factory=list)

    @property
    def drifted_features(self) -> list[str]:
        return [f.name for f in self.features if f.drifted]

    @property
    def drifted(self) -> bool:
        mv = bool(self.multivariate and self.multivariate.get("drifted"))
        pred = bool(self.prediction and self.prediction.drifted)
        return bool(self.drifted_features) or mv or pred

    def to_dict(self) -> dict[str, Any]:
        s = asdict(self.settings)
        s["overrides"] = {k: asdict(v) for k, v in self.settings.overrides.items()}
        return {
            "format": "modelyard.drift-report/1",
            "mode": self.mode,
            "n_ref": self.n_ref,
            "n_cur": self.n_cur,
            "drifted": self.drifted,
            "drifted_features": self.drifted_features,
            "share_drifted": len(self.drifted_features) / max(len(self.features), 1),
            "features": [f.to_dict() for f in self.features],
            "prediction": None if self.prediction is None else self.prediction.to_dict(),
            "multivariate": self.multivariate,
            "skipped": self.skipped,
            "datetimes": [d.to_dict() for d in self.datetimes],
            "settings": s,
            "elapsed_s": self.elapsed_s,
        }


# ---- entry points ----------------------------------------------------------------------
def compare_frames(
    reference: Any,
    current: Any,
    settings: DriftSettings | None = None,
    *,
    categorical: Sequence[str] = (),
    exclude: Sequence[str] = (),
    prediction: str | None = None,
    as_of: dt.datetime | None = None,
) -> DriftResult:
    """Raw mode: two DataFrames. Columns in both frames are compared; ``prediction`` names the
    prediction column (reported as prediction drift). Non-numeric columns are categorical.
    Datetime columns get their range and freshness (lag to ``as_of``, default now), no test."""
    import pandas as pd

    settings = (settings or DriftSettings()).validate()
    t0 = time.perf_counter()
    skipped: dict[str, str] = {}
    cols: list[tuple[str, Kind]] = []
    dates: list[str] = []
    for name in reference.columns:
        if name in exclude:
            continue
        if name not in current.columns:
            skipped[str(name)] = "not in the current data"
            continue
        dtype = reference[name].dtype
        if pd.api.types.is_datetime64_any_dtype(dtype):
            dates.append(name)
            continue
        numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        cols.append(
            (str(name), "numeric" if numeric and name not in categorical else "categorical")
        )
    for name in current.columns:
        if name not in reference.columns and name not in exclude:
            skipped[str(name)] = "not in the reference data"

    def build(item: tuple[str, Kind]) -> FeatureResult:
        name, kind = item
        pair = pair_from_series(name, reference[name], current[name], kind, settings.bins)
        return _evaluate(pair, settings, "prediction" if name == prediction else "feature")

    results = _map(build, cols, settings)
    mv = None
    if settings.multivariate:
        from modelyard.monitoring.multivariate import domain_classifier

        feats = [(n, k) for n, k in cols if n != prediction]
        mv = domain_classifier(reference, current, feats, settings)
    out = _decide(results, mv, settings, "raw", len(reference), len(current))
    out.skipped = skipped
    now = as_of or dt.datetime.now(dt.UTC)
    out.datetimes = [datetime_column(str(n), reference[n], current[n], now) for n in dates]
    out.elapsed_s = time.perf_counter() - t0
    return out


def compare_baseline(
    baseline: Any, window: Any, settings: DriftSettings | None = None
) -> DriftResult:
    """Sketch mode: a ``Baseline`` against a ``WindowSketch`` counted on its layout."""
    settings = (settings or DriftSettings()).validate()
    if window.layout != baseline.layout:
        raise ValueError("the window sketch was not counted on this baseline's layout")
    t0 = time.perf_counter()
    ref, n_ref = baseline.reference, baseline.reference.requests
    # rows counted in the features: a failed request is in ``requests`` (and ``errors``) but
    # carries no row, so it must not read as a missing value of every feature
    counted = [window.columns[s.name].n_total for s in baseline.layout.columns]
    n_cur = max(counted) if counted else window.requests
    items: list[tuple[Any, Any, Any, str]] = [
        (ref.columns[s.name], window.columns[s.name], baseline.stats.get(s.name), "feature")
        for s in baseline.layout.columns
    ]
    if ref.prediction is not None and window.prediction is not None:
        items.append(
            (ref.prediction, window.prediction, baseline.stats.get("prediction"), "prediction")
        )

    def build(item: tuple[Any, Any, Any, str]) -> FeatureResult:
        r, c, st, role = item
        n = c.n_total if role == "feature" else n_cur
        return _evaluate(pair_from_counts(r, c, n_ref, n, st), settings, role)

    results = _map(build, items, settings)
    mv = None
    if settings.multivariate and ref.sample_size and window.sample_size:
        from modelyard.monitoring.multivariate import domain_classifier

        kinds = [(s.name, s.kind) for s in baseline.layout.columns]
        mv = domain_classifier(ref.sample_frame(), window.sample_frame(), kinds, settings)
    out = _decide(results, mv, settings, "sketch", n_ref, n_cur)
    out.elapsed_s = time.perf_counter() - t0
    return out


# ---- internals -------------------------------------------------------------------------
def _map(fn: Any, items: Sequence[Any], settings: DriftSettings) -> list[FeatureResult]:
    """Features in parallel threads: sorting and binning release the GIL."""
    jobs = settings.n_jobs or (os.cpu_count() or 1)
    if jobs <= 1 or len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(jobs, len(items))) as pool:
        return list(pool.map(fn, items))


def _evaluate(pair: ColumnPair, settings: DriftSettings, role: str) -> FeatureResult:
    params = {
        "permutations": settings.permutations,
        "seed": settings.seed,
        "sentinel_ratio": settings.sentinel_ratio,
    }
    policy = settings.policy(pair.name, pair.kind)
    names = list(REPORTED[pair.kind])
    for extra in (policy.test, policy.effect):
        if extra not in names:
            names.append(extra)
    tests: dict[str, drift_tests.TestResult] = {}
    for name in names:
        test = drift_tests.get_test(name)
        if pair.kind not in test.kinds:
            continue
        res = test(pair, params)
        if res is not None:
            tests[name] = res
    signals: list[Signal] = []
    main, eff = tests.get(policy.test), tests.get(policy.effect)
    if main is not None:
        signals.append(
            Signal(
                pair.name,
                "distribution",
                policy.test,
                None if policy.threshold is not None else main.p_value,
                main.effect if policy.threshold is not None else (eff or main).effect,
                policy.min_effect,
                policy.threshold,
            )
        )
    floors = {
        "missingness": settings.missing_min_effect,
        "new_categories": settings.new_category_min_share,
        "vanished_categories": settings.vanished_min_share,
        "cardinality": settings.cardinality_min_effect,
        "out_of_range": settings.out_of_range_min_share,
        "sentinel": settings.sentinel_min_share,
    }
    for name, floor in floors.items():
        res = tests.get(name)
        if res is not None:
            signals.append(Signal(pair.name, name, name, res.p_value, res.effect, floor))
    return FeatureResult(
        name=pair.name,
        kind=pair.kind,
        role=role,
        n_ref=pair.n_ref,
        n_cur=pair.n_cur,
        tests=tests,
        signals=signals,
        plot=_plot(pair),
    )


def _decide(
    results: list[FeatureResult],
    mv: dict[str, Any] | None,
    settings: DriftSettings,
    mode: str,
    n_ref: int,
    n_cur: int,
) -> DriftResult:
    family = [s for r in results for s in r.signals if s.p_value is not None]
    mv_p = mv.get("p_value") if mv else None
    p_values = [float(s.p_value) for s in family if s.p_value is not None]
    if mv_p is not None:
        p_values.append(float(mv_p))
    adjusted = holm_adjusted(p_values)
    for s, adj in zip(family, adjusted, strict=False):
        s.p_adjusted = adj
    for r in results:
        for s in r.signals:
            if s.threshold is not None:
                s.drifted = s.effect >= s.threshold
            else:
                s.drifted = (
                    s.p_adjusted is not None
                    and s.p_adjusted < settings.alpha
                    and s.effect >= s.min_effect
                )
        r.drifted = any(s.drifted for s in r.signals)
        r.severity = _severity(r, settings) if r.drifted else "none"
    if mv is not None and mv_p is not None:
        mv["p_adjusted"] = adjusted[-1]
        mv["drifted"] = bool(adjusted[-1] < settings.alpha and mv["auc"] >= settings.min_auc)
    features = [r for r in results if r.role == "feature"]
    preds = [r for r in results if r.role == "prediction"]
    return DriftResult(
        mode=mode,
        n_ref=n_ref,
        n_cur=n_cur,
        features=features,
        prediction=preds[0] if preds else None,
        multivariate=mv,
        settings=settings,
    )


def _severity(r: FeatureResult, settings: DriftSettings) -> str:
    policy = settings.policy(r.name, r.kind)
    for s in r.signals:
        if not s.drifted:
            continue
        if s.signal == "distribution" and s.effect >= (
            policy.critical_effect if s.threshold is None else 2 * s.threshold
        ):
            return "critical"
        if s.signal == "missingness" and s.effect >= 0.1:
            return "critical"
        if s.signal in ("new_categories", "vanished_categories") and s.effect >= 0.05:
            return "critical"
        if s.signal in ("out_of_range", "sentinel") and s.effect >= 0.01:
            return "critical"
    return "warning"


def _plot(pair: ColumnPair, top: int = 20) -> dict[str, Any]:
    """Proportions for the report's chart: coarse bins or the top categories."""
    r, c = pair.coarse()
    rt, ct = max(float(r.sum()), 1.0), max(float(c.sum()), 1.0)
    if pair.kind == "numeric":
        e = pair.edges
        labels = ["< min"] + [_fmt(x) for x in e[:-1]] + ["> max"]
        # coarse labels: the left edge of each coarse group
        if len(pair.groups):
            first: dict[int, str] = {}
            for i, g in enumerate(pair.groups.tolist()):
                first.setdefault(g, labels[i])
            labels = [first[g] for g in sorted(first)]
        ref_p, cur_p = (r / rt).tolist(), (c / ct).tolist()
        keep = [i for i in range(len(ref_p)) if ref_p[i] or cur_p[i]]
        return {
            "labels": [labels[i] for i in keep],
            "ref": [ref_p[i] for i in keep],
            "cur": [cur_p[i] for i in keep],
        }
    order = sorted(range(len(r)), key=lambda i: -(r[i] / rt + c[i] / ct))[:top]
    return {
        "labels": [pair.categories[i] for i in order],
        "ref": [float(r[i] / rt) for i in order],
        "cur": [float(c[i] / ct) for i in order],
    }


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    return f"{x:.4g}"


def _signal_dict(s: Signal) -> dict[str, Any]:
    def num(v: float | None) -> float | None:
        return None if v is None or not math.isfinite(v) else float(v)

    return {
        "signal": s.signal,
        "test": s.test,
        "p_value": num(s.p_value),
        "p_adjusted": num(s.p_adjusted),
        "effect": num(s.effect),
        "min_effect": s.min_effect,
        "threshold": s.threshold,
        "drifted": s.drifted,
    }
