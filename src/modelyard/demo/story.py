"""`modelyard demo`: the pipeline told on real data (scikit-lego's arrests, MIT), in three acts.

The release (``act_release``): register data → train a baseline and two candidates with lineage →
release gates (the biased candidate is rejected with its reason) → four-eyes approval →
deployment. The canary (``act_canary``): a fragile and a retrained candidate canaried on a real
server under generated traffic. The drift (``act_drift``): the population shifts, alerts run the
retrain playbook, its candidate is canaried. This driver runs the acts, then prints the lineage,
the catalog and the story.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console

from modelyard.demo.act_canary import canary, stop_server
from modelyard.demo.act_release import release
from modelyard.demo.project import AUTHOR, PROJECT_YAML, REVIEWER, DemoResult
from modelyard.registry.registry import Registry


def run_demo(path: Path | None, console: Console, keep_serving: bool = False) -> DemoResult:
    root = Path(path) if path else Path(tempfile.mkdtemp(prefix="modelyard-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    with _logging_to(root / "demo.log"):  # alert and playbook records: a file, not the screen
        return _run_demo(root, console, keep_serving)


def _run_demo(root: Path, console: Console, keep_serving: bool) -> DemoResult:
    started = time.perf_counter()
    (root / "modelyard.yaml").write_text(PROJECT_YAML, encoding="utf-8")
    result = DemoResult(root)
    console.rule("[bold]modelyard demo[/]")
    console.print(f"project folder: {root}")
    env = {**os.environ, "MODELYARD_USER": AUTHOR}
    with Registry.init(root, env=env) as reg:
        release(reg, result, console)
        if result.champion:
            canary(reg, root, result, console, keep_serving)  # the drift act runs inside
        _summary(reg, result, console)
        token = None
        if result.server is not None:
            from modelyard.registry.access import create_token

            token = create_token(reg, "demo-explorer", "admin", AUTHOR).secret
    console.print(
        f"\ndone in {time.perf_counter() - started:.1f}s. Explore: "
        f"[bold]modelyard catalog -p {root}[/] · [bold]modelyard lineage "
        f"{result.champion or 'arrests@1'} -p {root}[/] · [bold]modelyard ui -p {root}[/] "
        "(dashboard)"
    )
    if result.server is not None:
        console.print(
            f"\nthe server keeps serving at [bold]{result.server_url}[/]: dashboard "
            f"[bold]{result.server_url}/ui[/] (sign in with the admin token "
            f"[bold]{token}[/]); Ctrl-C stops it"
        )
        try:
            result.server.wait()
        except KeyboardInterrupt:
            pass
        finally:
            stop_server(result.server)
    return result


def _summary(reg: Registry, result: DemoResult, console: Console) -> None:
    """The champion's lineage, the catalog and the story, as tables."""
    from modelyard.registry.catalog import catalog
    from modelyard.registry.lineage import model_lineage
    from modelyard.terminal import render
    from modelyard.terminal.lineage_view import print_model_lineage

    console.print("\n[bold]lineage of the champion[/]")
    if result.champion:
        print_model_lineage(model_lineage(reg, result.champion))
    for v in reg.model_versions("arrests"):
        result.states[v.ref] = v.state
    rows = []
    for entry in catalog(reg):
        for item in entry.versions:
            traffic = ", ".join(f"{r['role']} on {r['endpoint']}" for r in item["routes"])
            gates = {True: "[green]pass[/]", False: "[red]fail[/]", None: "-"}
            rows.append(
                (
                    item["ref"],
                    render.state(item["state"]),
                    gates[item["last_gate"]],
                    result.reasons.get(item["ref"], ""),
                    traffic or "-",
                )
            )
    render.table("Catalog", ["version", "state", "gates", "failed checks", "traffic"], rows)
    render.table("The story", ["stage", "outcome"], _story_rows(result))


def _story_rows(result: DemoResult) -> list[tuple[str, str]]:
    rows = []
    for ref, passed in result.gates.items():
        verdict = "passed" if passed else f"rejected ({result.reasons.get(ref, '')})"
        rows.append(("release gates", f"{ref}: {verdict}"))
    rows.append(("approval", f"four eyes: the author was refused, {REVIEWER} approved"))
    for ref, outcome in result.rollouts.items():
        rows.append(("canary on live traffic", f"{ref}: {outcome.replace('_', ' ')}"))
    for alert in result.alerts:
        rows.append(("drift alert", alert))
    for action in result.playbook_actions:
        rows.append(("playbook", action))
    if result.retrained:
        rows.append(("retrained by the playbook", result.retrained))
    rows.append(("champion", result.champion or "-"))
    return rows


@contextlib.contextmanager
def _logging_to(path: Path) -> Iterator[None]:
    import logging

    logger = logging.getLogger("modelyard")
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    before = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()
        logger.setLevel(before[0])
        logger.propagate = before[1]
