"""Shared set-up for the feedback, quality and review-queue tests: the demo's project file
(arrests data, protected colour/sex/age, a kpi matrix), a real model trained with lineage, and
the serving app in-process (real prediction log files)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import pandas as pd
import pytest
from starlette.testclient import TestClient

from modelyard.registry.registry import ModelVersion, Registry
from tests.support.cli import Ran, run_main

__all__ = ["Ran", "arrests_project", "predict", "records", "run_cli", "serving"]

FEATURES = ["colour", "year", "age", "sex", "employed", "citizen", "checks"]

EXTRA_YAML = """\
endpoints:
  arrests:
    prediction_log: {{input_sample: 1.0, flush_every_s: {flush}}}
monitoring:
  review: {{confidence_below: {below}, sample: {sample}, max_pending: {max_pending}}}
"""


def arrests_project(
    root: Path,
    store_url: str | None = None,
    *,
    flush_s: float = 3600.0,
    below: float = 0.6,
    sample: float = 0.0,
    max_pending: int = 10_000,
    pii: tuple[str, ...] = (),
) -> tuple[Registry, ModelVersion, pd.DataFrame]:
    """(registry, the logistic arrests model, the evaluation rows) in a fresh project."""
    from sklearn.model_selection import train_test_split

    from modelyard.demo.data import arrests
    from modelyard.demo.project import PROJECT_YAML
    from modelyard.demo.steps import train

    root.mkdir(parents=True, exist_ok=True)
    text = PROJECT_YAML
    if pii:
        text = text.replace(
            "arrests-train: {target: released,",
            f"arrests-train: {{pii: [{', '.join(pii)}], target: released,",
        )
    text += EXTRA_YAML.format(flush=flush_s, below=below, sample=sample, max_pending=max_pending)
    (root / "modelyard.yaml").write_text(text, encoding="utf-8")
    env = {"MODELYARD_USER": "tester"}
    if store_url:
        env["MODELYARD_STORE_URL"] = store_url
    reg = Registry.init(root, env=env, identity="os")
    df = arrests()
    tr, ev = train_test_split(df, test_size=0.3, random_state=0, stratify=df["released"])
    reg.add_dataset(tr.reset_index(drop=True), "arrests-train")
    reg.add_dataset(ev.reset_index(drop=True), "arrests-eval")
    mv = train(reg, {"kind": "logistic"})
    return reg, mv, ev.reset_index(drop=True)


@contextmanager
def serving(
    reg: Registry, mv: ModelVersion, observers: list[Any] | None = None
) -> Iterator[TestClient]:
    """The inference app for ``mv`` as endpoint ``arrests``; the prediction log (and the
    observers' hooks) flush when the block ends."""
    from modelyard.serving.stack import ServeSpec, build_app

    hooks = [o for o in observers or [] if hasattr(o, "start")]
    app = build_app(
        reg,
        ServeSpec(project=str(reg.settings.project_dir), ref=mv.ref, refresh_s=0.1),
        observers=observers,
        on_startup=[h.start for h in hooks],
        on_shutdown=[h.stop for h in hooks],
    )
    with TestClient(app) as client:
        yield client


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return cast("list[dict[str, Any]]", df[FEATURES].to_dict("records"))


def predict(client: TestClient, rows: list[dict[str, Any]]) -> str:
    r = client.post("/v1/models/arrests:predict", json={"instances": rows})
    assert r.status_code == 200, r.text
    pid: str = r.json()["id"]
    return pid


def run_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> Ran:
    """The console entry point in-process, as user ``labeller`` on a 200-column terminal."""
    env = {"MODELYARD_USER": "labeller", "COLUMNS": "200"}
    return run_main(capsys, monkeypatch, *args, env=env)
