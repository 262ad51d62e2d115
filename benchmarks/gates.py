"""Release gates on a 100,000-row evaluation set: time per check, goal < 60 s in total.

Every check except reproducibility (a retrain) and load (a timed server run) runs, with a
champion, on arrests (scikit-lego, 5,226 rows) resampled to 100,000 rows with noise: rows drawn
with replacement, ages jittered by up to ±3 years, previous checks by ±1, and 2% of the
categorical values flipped. The candidate is a gradient-boosting pipeline, the champion a
logistic regression, both trained on the original data. Run it with modelyard's venv::

    .venv/bin/python benchmarks/gates.py [--rows 100000] [--threads 1]

It prints one line per check (seconds, status) and the total, and exits 1 if the total misses
the goal.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

GOAL_S = 60.0
FEATURES = ["colour", "year", "age", "sex", "employed", "citizen", "checks"]
CATEGORICAL = ["colour", "sex", "employed", "citizen"]

POLICY = """\
dataset: arrests-eval@1
positive_label: "Yes"
metrics:
  thresholds: {roc_auc: {min: 0.6}, accuracy: {min: 0.75}, log_loss: {max: 0.6}}
  non_inferiority: {roc_auc: 0.02}
segments:
  - {name: young, filter: "age < 25", metric: accuracy, min: 0.7, max_gap: 0.1}
  - {name: black women, filter: 'colour == "Black" and sex == "Female"', metric: roc_auc}
  - {name: non-citizens, filter: 'citizen == "No"', metric: accuracy, max_gap: 0.2}
fairness:
  demographic_parity_difference: 0.2
  equalized_odds_difference: 0.3
  min_metric_ratio: 0.8
  counterfactual_max_flip_rate: 0.1
  bins: {age: [25, 40]}
calibration: {max_ece: 0.05, max_brier: 0.2}
robustness: {max_drop: 0.05}
schema:
kpi: {matrix: {tp: 10, fp: -30, fn: -5, tn: 0}, max_drop_pct: 25}
cost: {max_regression_pct: 1000}
explain: {}
"""


def pipeline(estimator: Any) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), CATEGORICAL),
            ("num", StandardScaler(), ["year", "age", "checks"]),
        ]
    )
    return Pipeline([("pre", pre), ("model", estimator)])


def resample(df: pd.DataFrame, rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = df.iloc[rng.integers(0, len(df), rows)].reset_index(drop=True)
    out["age"] = np.clip(out["age"] + rng.integers(-3, 4, rows), 12, 70)
    out["checks"] = np.clip(out["checks"] + rng.integers(-1, 2, rows), 0, 6)
    for col in CATEGORICAL:
        values = sorted(df[col].unique())
        flip = rng.random(rows) < 0.02
        out.loc[flip, col] = rng.choice(values, int(flip.sum()))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--threads", type=int, default=1, help="BLAS/OpenMP threads (the policy's `threads`)"
    )
    args = parser.parse_args()

    import skops.io as sio
    import yaml
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklego.datasets import load_arrests

    from modelyard.core.gate_policy import GatePolicy
    from modelyard.core.project import DatasetConfig
    from modelyard.gates.context import GateContext, Side
    from modelyard.gates.runner import run_checks
    from modelyard.registry import profile
    from modelyard.registry.signature import infer_signature

    started = time.perf_counter()
    arrests = pd.DataFrame(load_arrests(as_frame=True))
    X, y = arrests[FEATURES], (arrests["released"] == "Yes").astype(int)
    candidate = pipeline(
        HistGradientBoostingClassifier(max_depth=4, max_iter=150, random_state=0)
    ).fit(X, y)
    champion = pipeline(LogisticRegression(max_iter=1000)).fit(X, y)
    frame = resample(arrests, args.rows)
    schema = profile.infer_schema(
        frame, DatasetConfig(target="released", protected=("colour", "sex", "age"))
    )
    policy = GatePolicy.model_validate({**yaml.safe_load(POLICY), "threads": args.threads})
    ctx = GateContext(
        frame=frame,
        target="released",
        candidate=Side("candidate", candidate, "arrests@2", len(sio.dumps(candidate))),
        champion=Side("champion", champion, "arrests@1", len(sio.dumps(champion))),
        policy=policy,
        dataset_schema=schema,
        signature=infer_signature(candidate, X.head(20), schema),
        put_artifact=lambda data, kind: f"{len(data):064d}",
    )
    print(
        f"setup (load, resample to {len(frame):,} rows, train 2 models): "
        f"{time.perf_counter() - started:.1f} s\n"
    )

    def show(step: Any) -> None:
        if not isinstance(step, str):
            print(
                f"  {step.name:<16} {step.duration_s:7.2f} s   {step.status:<7} {step.message[:64]}"
            )

    t0 = time.perf_counter()
    results = run_checks(ctx, progress=show)
    total = time.perf_counter() - t0
    slowest = max(results, key=lambda r: r.duration_s)
    print(
        f"\n  {'total':<16} {total:7.2f} s   goal < {GOAL_S:.0f} s: "
        f"{'met' if total < GOAL_S else 'MISSED'} (slowest: {slowest.name})"
    )
    return 0 if total < GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
