"""``check_gate``: the behaviour every gate check must show, built-in or plug-in.

Run it on your own check the way scikit-learn's ``check_estimator`` runs on estimators::

    from modelyard.testing.check_contract import check_gate
    check_gate(MyCheck(options))

With no context given, it builds one from scikit-learn's bundled breast-cancer data (no
network): a fitted candidate, a simpler champion, a signature and a protected ``group`` column.
Each rule raises ``AssertionError`` naming the check, the rule and what was seen.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any

import pandas as pd

from modelyard.gates.base import STATUSES, Check, CheckResult
from modelyard.gates.context import GateContext, Side


def contract_context(*, champion: bool = True) -> GateContext:
    """A small, realistic evaluation context: breast cancer (569 rows), two fitted models."""
    frame, features, cand, champ, schema, signature = _contract_parts()
    return GateContext(
        frame=frame.copy(),
        target="target",
        candidate=Side("candidate", cand, "contract@2", 10_000),
        champion=Side("champion", champ, "contract@1", 5_000) if champion else None,
        features=list(features),
        dataset_schema=schema,
        signature=signature,
    )


@functools.cache
def _contract_parts() -> tuple[pd.DataFrame, list[str], Any, Any, dict[str, Any], dict[str, Any]]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    from modelyard.registry.signature import infer_signature

    data = load_breast_cancer(as_frame=True)
    X = data.data.iloc[:, :8].copy()
    X.columns = [c.replace(" ", "_") for c in X.columns]
    frame = X.assign(
        group=(X["mean_texture"] > X["mean_texture"].median()).map({True: "a", False: "b"}),
        target=data.target,
    )
    features = list(X.columns)
    cand = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(
        frame[features], frame["target"]
    )
    champ = DecisionTreeClassifier(max_depth=2, random_state=0).fit(
        frame[features], frame["target"]
    )
    schema = {
        "columns": [
            {"name": c, "type": "float", "categorical": False, "protected": False} for c in features
        ]
        + [
            {
                "name": "group",
                "type": "string",
                "categorical": True,
                "categories": ["a", "b"],
                "protected": True,
            }
        ],
        "target": "target",
    }
    return frame, features, cand, champ, schema, infer_signature(cand, frame[features].head(5))


def _fingerprint(frame: pd.DataFrame) -> int:
    return int(pd.util.hash_pandas_object(frame, index=True).sum())


def _fail(check: Any, rule: str, seen: Any) -> None:
    name = getattr(check, "name", type(check).__name__)
    raise AssertionError(f"check {name!r} breaks the contract: {rule}; got {seen!r}")


def _validate(check: Check, result: Any, with_champion: bool) -> CheckResult:
    if not isinstance(result, CheckResult):
        _fail(check, "run(ctx) must return a CheckResult", type(result).__name__)
    assert isinstance(result, CheckResult)
    if result.name != check.name:
        _fail(check, "the result's name must equal the check's name", result.name)
    if result.status not in STATUSES:
        _fail(check, f"status must be one of {', '.join(STATUSES)}", result.status)
    if not isinstance(result.message, str) or not result.message.strip():
        _fail(check, "message must be a non-empty sentence a person can act on", result.message)
    for f in result.figures:
        for label, v in (("value", f.value), ("champion", f.champion)):
            if v is not None and not math.isfinite(v):
                _fail(check, f"figure {label}s must be finite or None", (f.name, v))
        if f.ok is not None and f.limit is None:
            _fail(check, "a judged figure (ok set) must state its limit", f.name)
        if not with_champion and f.champion is not None:
            _fail(check, "without a champion, no figure may carry a champion value", f.name)
    if any(f.ok is False for f in result.figures) and result.status == "pass":
        _fail(check, "a figure outside its limit cannot give status pass", result.status)
    try:
        text = result.model_dump_json()
        json.loads(text)
        CheckResult.model_validate_json(text)
    except Exception as exc:  # pragma: no cover - pydantic models serialise
        _fail(check, "the result must serialise to JSON and back", str(exc))
    for svg in result.charts:
        if "<script" in svg.lower() or "http://" in svg.replace("http://www.w3.org/2000/svg", ""):
            _fail(check, "charts must be inline SVG without scripts or remote resources", svg[:80])
    return result


def check_gate(check: Check, ctx: GateContext | None = None, *, deterministic: bool = True) -> None:
    """Assert that ``check`` keeps the gate-check contract (see the module docstring)."""
    name = getattr(check, "name", None)
    if not isinstance(name, str) or not name.isidentifier():
        _fail(check, "`name` must be an identifier string", name)
    if not callable(getattr(check, "run", None)):
        _fail(check, "a check must have run(ctx) -> CheckResult", type(check).__name__)
    for with_champion in (True, False):
        context = (
            ctx if ctx is not None and with_champion else contract_context(champion=with_champion)
        )
        if ctx is not None and not with_champion:
            context = GateContext(
                frame=ctx.frame,
                target=ctx.target,
                candidate=Side(ctx.candidate.label, ctx.candidate.model, ctx.candidate.ref),
                policy=ctx.policy,
                features=list(ctx.features),
                task=ctx.task,
                dataset_schema=ctx.dataset_schema,
                signature=ctx.signature,
            )
        before = _fingerprint(context.frame)
        first = _validate(check, check.run(context), context.champion is not None)
        if _fingerprint(context.frame) != before:
            _fail(check, "run(ctx) must not modify the evaluation data", "frame changed")
        second = _validate(check, check.run(context), context.champion is not None)
        if first.status != second.status or [f.name for f in first.figures] != [
            f.name for f in second.figures
        ]:
            _fail(check, "two runs on the same context must agree", (first.status, second.status))
        if deterministic:
            a = [f.value for f in first.figures]
            b = [f.value for f in second.figures]
            if a != b:
                _fail(
                    check,
                    "figures must be reproducible (pass deterministic=False if timed)",
                    (a, b),
                )
