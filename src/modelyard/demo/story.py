"""`modelyard demo`: register real data, train two versions with lineage, show the catalog."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from modelyard.registry.registry import Registry

PROJECT_YAML = """\
name: modelyard-demo
models:
  arrests:
    owner: risk-analytics@example.org
    objective: decide which arrestees can be released with a summons
    kpi: share of correct release decisions
    task: classification
    sla:
      latency_p99_ms: 50
      availability: 0.999
      escalation: oncall-ml@example.org
datasets:
  arrests:
    target: released
    protected: [colour, sex, age]
"""

FEATURES = ["colour", "year", "age", "sex", "employed", "citizen", "checks"]
CATEGORICAL = ["colour", "sex", "employed", "citizen"]


def _pipeline(kind: str, seed: int) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c for c in FEATURES if c not in CATEGORICAL]
    pre = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), CATEGORICAL),
            ("num", StandardScaler(), numeric),
        ]
    )
    if kind == "logistic":
        est: Any = LogisticRegression(max_iter=1000, C=1.0, random_state=seed)
    else:
        est = HistGradientBoostingClassifier(max_depth=3, max_iter=60, random_state=seed)
    return Pipeline([("pre", pre), ("model", est)])


def train(reg: Registry, dataset_ref: str, kind: str, seed: int = 0) -> Any:
    """A training script as a user writes it: the run records its lineage by itself."""
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import train_test_split

    with reg.start_run(model="arrests", params={"kind": kind}, seed=seed) as run:
        ds = run.use_dataset(dataset_ref, role="train")
        df = reg.load_dataset(ds)
        X, y = df[FEATURES], (df["released"] == "Yes").astype(int)
        X_tr, X_te, y_tr, y_te = train_test_split(
            X, y, test_size=0.25, random_state=seed, stratify=y
        )
        model = _pipeline(kind, seed).fit(X_tr, y_tr)
        proba = model.predict_proba(X_te)[:, 1]
        run.log_metrics(
            {
                "accuracy": float(accuracy_score(y_te, model.predict(X_te))),
                "roc_auc": float(roc_auc_score(y_te, proba)),
            }
        )
        return run.log_model(model, sample_input=X_tr.head(20))


def run_demo(path: Path | None, console: Console) -> Path:
    from modelyard.cli import render
    from modelyard.cli.lineage_view import print_model_lineage
    from modelyard.demo.data import arrests
    from modelyard.registry.lineage import model_lineage

    started = time.perf_counter()
    root = Path(path) if path else Path(tempfile.mkdtemp(prefix="modelyard-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    (root / "modelyard.yaml").write_text(PROJECT_YAML, encoding="utf-8")
    console.rule("[bold]modelyard demo[/]")
    console.print(f"project folder: {root}")
    with Registry.init(root, env=dict(os.environ)) as reg:
        with console.status("1/3 registering the arrests dataset (scikit-lego, 5,226 rows)…"):
            ds = reg.add_dataset(arrests(), name="arrests", source="sklego.datasets.load_arrests")
        console.print(
            f"[green]✓[/] dataset [bold]{ds.ref}[/] {ds.n_rows:,} rows, sha256:{ds.digest[:16]}, "
            f"protected: colour, sex, age"
        )
        versions = []
        for kind in ("logistic", "boosting"):
            with console.status(f"2/3 training a {kind} model with lineage…"):
                mv = train(reg, ds.ref, kind)
            versions.append(mv)
            console.print(f"[green]✓[/] trained [bold]{mv.ref}[/] ({kind}), run {mv.run_id}")
        console.print("\n[bold]3/3 lineage of the newest version[/]")
        print_model_lineage(model_lineage(reg, versions[-1].ref))
        rows = []
        for v in reg.model_versions("arrests"):
            metrics = {m["key"]: m["value"] for m in reg.store.run_metrics(v.run_id or "")}
            rows.append(
                (
                    v.ref,
                    render.state(v.state),
                    v.card.get("owner"),
                    f"{metrics.get('roc_auc', float('nan')):.3f}",
                    f"{v.size_bytes / 1024:.0f} KiB",
                )
            )
        render.table("Catalog", ["version", "state", "owner", "ROC AUC", "size"], rows)
    console.print(
        f"\ndone in {time.perf_counter() - started:.1f}s. Explore: "
        f"[bold]modelyard -p {root} models list[/], [bold]modelyard -p {root} lineage arrests@2[/]"
    )
    return root
