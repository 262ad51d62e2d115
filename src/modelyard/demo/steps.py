"""Steps every act of the demo takes: train a model version with lineage, act as another user,
follow a rollout step by step."""

from __future__ import annotations

import os
import time
from typing import Any

from rich.console import Console

from modelyard.demo.project import DemoResult
from modelyard.registry.registry import ModelVersion, Registry


def train(reg: Registry, params: dict[str, Any], seed: int = 0) -> ModelVersion:
    """A training script as a user writes it: the run records its lineage by itself."""
    from sklearn.metrics import accuracy_score, roc_auc_score

    from modelyard.demo.training import FEATURES, fit
    from modelyard.gates.retrain import TrainingInputs

    with reg.start_run(model="arrests", params=params, seed=seed) as run:
        ds = run.use_dataset("arrests-train@1", role="train")
        df = reg.load_dataset(ds)
        model = fit(TrainingInputs({"train": df}, {"train": ds.ref}, dict(run.params), seed))
        test = reg.load_dataset("arrests-eval@1")
        y = (test["released"] == "Yes").astype(int)
        run.log_metrics(
            {
                "accuracy": float(accuracy_score(y, model.predict(test[FEATURES]))),
                "roc_auc": float(roc_auc_score(y, model.predict_proba(test[FEATURES])[:, 1])),
            }
        )
        return run.log_model(model, sample_input=df[FEATURES].head(20))


def as_user(reg: Registry, user: str) -> Registry:
    """The same project opened as ``user`` (the caller closes it)."""
    return Registry.open(reg.settings.project_dir, env={**os.environ, "MODELYARD_USER": user})


def follow(reg: Registry, ctl: Any, rid: int, result: DemoResult, console: Console) -> str:
    """Tick the rollout controller until rollout ``rid`` ends (or 90 s pass), printing each
    step; its final status."""
    from modelyard.orchestration.canary import rollout_state

    deadline = time.monotonic() + 90
    status = "running"
    while status == "running" and time.monotonic() < deadline:
        for done in ctl.tick():
            outcome = done.get("outcome", done["decision"])
            figs = done.get("figures", {})
            err = figs.get("canary_error_rate")
            line = (
                f"step {done.get('step', 0) + 1}: {outcome} "
                f"({figs.get('canary_requests', 0):.0f} canary requests, "
                f"error rate {err if err is None else f'{err:.1%}'})"
            )
            result.rollout_steps.append(line)
            console.print(f"  [cyan]rollout #{rid}[/] {line}")
        status = rollout_state(reg, rid)
        time.sleep(0.5)
    return status
