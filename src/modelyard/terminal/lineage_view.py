"""Lineage as a rich tree on the terminal."""

from __future__ import annotations

from typing import Any

from rich.tree import Tree

from modelyard.terminal import render


def print_model_lineage(g: dict[str, Any]) -> None:
    mv = g["model_version"]
    root = Tree(
        f"[bold]model version {mv['ref']}[/]  {render.state(mv['state'])}  "
        f"sha256:{mv['artifact_digest'][:16]}  owner {mv['owner'] or '[red]none[/]'}"
    )
    run = g["run"]
    if run:
        code = run.get("code") or {}
        node = root.add(
            f"[bold]run {run['id'][:12]}[/] ({run['status']}) by {run['created_by']}  "
            f"seed {run['seed']}"
        )
        commit = code.get("commit") or "(not in git)"
        dirty = f" + dirty diff {code['diff_sha256'][:12]}" if code.get("dirty") else ""
        node.add(f"code: commit {commit}{dirty}")
        node.add(
            f"dependencies: lock sha256:{(run.get('lock_sha256') or '(none)')[:16]}  "
            f"python {run.get('python')}"
        )
        if run["params"]:
            node.add("params: " + ", ".join(f"{k}={v}" for k, v in sorted(run["params"].items())))
        if run["metrics"]:
            node.add("metrics: " + ", ".join(f"{k}={v:.4g}" for k, v in run["metrics"].items()))
        data = node.add("data")
        for d in g["datasets"]:
            data.add(f"{d['ref']} ({d['role']}) {d['rows']:,} rows sha256:{d['digest'][:16]}")
    if g.get("parent"):
        root.add(f"derived from {g['parent']}")
    if g["reports"]:
        reps = root.add("reports")
        for r in g["reports"]:
            status = {True: "[green]pass[/]", False: "[red]fail[/]", None: "-"}[r["passed"]]
            reps.add(f"{r['kind']} #{r['id']} {status}")
    deps = root.add("deployments")
    for d in g["deployments"]:
        deps.add(f"{d['endpoint']} as {d['role']} (weight {d['weight']:.0%})")
    hist = root.add("lifecycle")
    for t in g["transitions"]:
        hist.add(f"{t['from'] or '·'} → {t['to']} by {t['actor']}: {t['reason']}")
    render.console.print(root)


def print_dataset_lineage(g: dict[str, Any]) -> None:
    d = g["dataset"]
    root = Tree(f"[bold]dataset {d['ref']}[/] {d['rows']:,} rows sha256:{d['digest'][:16]}")
    for r in g["runs"]:
        node = root.add(f"run {r['id'][:12]} ({r['role']}) model {r['model']} [{r['status']}]")
        for v in r["model_versions"]:
            node.add(f"→ {v}")
    if not g["runs"]:
        root.add("[dim]no run has used it yet[/]")
    render.console.print(root)


def print_prediction(g: dict[str, Any]) -> None:
    """The answer one prediction id got: route, output, logged input and label."""
    import json

    p = g["prediction"]
    root = Tree(
        f"[bold]prediction {p['id']}[/]  {p['at']}  endpoint {p['endpoint']}  "
        f"answered by [bold]{p['version']}[/] as {p['role']}  {p['latency_ms']:.2f} ms"
    )
    if p.get("fallback_reason"):
        root.add(f"[yellow]fallback[/]: {p['fallback_reason']}")
    root.add("output: " + json.dumps(p["output"], default=str)[:400])
    if p["input_logged"]:
        root.add("input (as logged, PII hashed): " + json.dumps(p["input"], default=str)[:400])
    else:
        root.add("[dim]input not logged (prediction_log.input_sample)[/]")
    for s in g["shadow"]:
        root.add(f"shadow {s['version']}: " + json.dumps(s["output"], default=str)[:200])
    fb = g["feedback"]
    if fb:
        root.add(f"feedback: label {fb['label']!r} ({fb['source']}, {fb['received_at']})")
    else:
        root.add("[dim]no feedback label yet[/]")
    render.console.print(root)
