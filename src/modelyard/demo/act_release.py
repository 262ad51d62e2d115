"""Act 1 of the demo, the release: register the data, train a baseline and two candidates with
lineage, run the release gates (the biased candidate is rejected with its reason), four-eyes
approval, deployment of each version that passed."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from modelyard.demo.project import REVIEWER, DemoResult
from modelyard.demo.steps import as_user, train
from modelyard.registry.registry import Registry


def release(reg: Registry, result: DemoResult, console: Console) -> None:
    from sklearn.model_selection import train_test_split

    from modelyard.demo.data import arrests
    from modelyard.gates.runner import run_gate
    from modelyard.orchestration.operations import deploy
    from modelyard.registry.approvals import approve
    from modelyard.security.access import local_identity

    with console.status("1/5 registering the arrests data (scikit-lego, 5,226 rows)…"):
        df = arrests()
        tr, ev = train_test_split(df, test_size=0.3, random_state=0, stratify=df["released"])
        src = "sklego.datasets.load_arrests"
        ds_train = reg.add_dataset(tr.reset_index(drop=True), "arrests-train", f"{src} train")
        ds_eval = reg.add_dataset(ev.reset_index(drop=True), "arrests-eval", f"{src} eval")
    console.print(
        f"[green]✓[/] datasets [bold]{ds_train.ref}[/] ({ds_train.n_rows:,} rows) and "
        f"[bold]{ds_eval.ref}[/] ({ds_eval.n_rows:,} rows); protected: colour, sex, age"
    )

    plan: list[tuple[str, dict[str, Any]]] = [
        ("baseline", {"kind": "logistic"}),
        ("biased candidate", {"kind": "logistic", "biased": True}),
        ("boosting candidate", {"kind": "boosting"}),
    ]
    for label, params in plan:
        with console.status(f"2/5 training the {label} with lineage…"):
            mv = train(reg, params)
        result.versions[label] = mv.ref
        console.print(f"[green]✓[/] trained [bold]{mv.ref}[/] ({label}), run {mv.run_id}")

    reviewer = as_user(reg, REVIEWER)
    try:
        for label, _params in plan:
            ref = result.versions[label]
            with console.status(f"3/5 release gates for {ref} ({label})…"):
                report, _ = run_gate(reg, ref)
            result.gates[ref] = report.passed
            if report.passed:
                console.print(f"[green]✓[/] gates passed for [bold]{ref}[/] ({label})")
            else:
                result.reasons[ref] = ", ".join(report.failed_checks)
                console.print(
                    f"[red]✗[/] gates [red]rejected[/] [bold]{ref}[/] ({label}): {report.reason()}"
                )
                continue
            own = None
            try:
                approve(reg, ref, local_identity(reg.actor), "my own model looks fine")
            except Exception as exc:  # the four-eyes rule, shown on purpose
                own = str(exc)
            decision = approve(
                reviewer, ref, local_identity(reviewer.actor), f"gate report for {ref} reviewed"
            )
            console.print(
                f"[green]✓[/] approved [bold]{ref}[/] by {REVIEWER}"
                + (f" [dim](the author was refused: {own.split(':')[0]})[/]" if own else "")
            )
            assert decision.approved
            mv = deploy(reviewer, ref, "arrests", "production", reason=f"{label} release")
            result.champion = mv.ref
            console.print(f"[green]✓[/] 4/5 deployed [bold]{ref}[/] to endpoint arrests")
    finally:
        reviewer.close()
