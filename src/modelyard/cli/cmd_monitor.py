"""``modelyard monitor``: drift reports (and, later, the live monitoring loop).

Imports of pandas/scipy/scikit-learn happen inside the commands, so ``modelyard monitor --help``
stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from modelyard.cli import render
from modelyard.cli.main import JsonOpt, ProjectOpt, app, open_registry

monitor_app = typer.Typer(
    help="Drift and data-quality monitoring: batch drift reports between two datasets.",
    no_args_is_help=True,
)
app.add_typer(monitor_app, name="monitor")


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def _load(spec: str, project: Path, reg_box: list[Any]) -> tuple[Any, dict[str, Any] | None]:
    """A file path (CSV/TSV/Parquet) or a registered dataset ref NAME@VERSION."""
    from modelyard.core.errors import InvalidInput
    from modelyard.registry.tabular import FORMATS, read_table

    path = Path(spec)
    if path.exists() or path.suffix.lower() in FORMATS:
        return read_table(path), None
    if "@" not in spec:
        raise InvalidInput(
            f"{spec!r} is neither a file nor a dataset ref",
            hint="pass a CSV/Parquet path or NAME@VERSION of a registered dataset",
        )
    if not reg_box:
        reg_box.append(open_registry(project))
    reg = reg_box[0]
    ds = reg.dataset(spec)
    return reg.load_dataset(ds), ds.schema


@monitor_app.command("report")
def report(
    reference: Annotated[str, typer.Argument(help="Reference data: file or NAME@VERSION.")],
    current: Annotated[str, typer.Argument(help="Current data: file or NAME@VERSION.")],
    html: Annotated[
        Path | None, typer.Option("--html", help="Write a self-contained HTML report here.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the JSON report to this file.")
    ] = None,
    categorical: Annotated[
        list[str] | None,
        typer.Option("--categorical", "-c", help="Treat these numeric columns as categories."),
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", "-x", help="Columns to leave out.")
    ] = None,
    prediction: Annotated[
        str | None, typer.Option("--prediction", help="Column holding model predictions.")
    ] = None,
    alpha: Annotated[
        float, typer.Option(help="Family-wise false-alarm level across all checks.")
    ] = 0.05,
    multivariate: Annotated[
        bool, typer.Option(help="Also run the domain-classifier (multivariate) test.")
    ] = True,
    fail_on_drift: Annotated[
        bool, typer.Option("--fail-on-drift", help="Exit with code 1 when drift is found.")
    ] = False,
    project: ProjectOpt = Path("."),
    json_: JsonOpt = False,
) -> None:
    """Compare two datasets feature by feature (and jointly) and report drift.

    Example: [bold]modelyard monitor report flights@1 flights@2 --html drift.html[/]
    """
    from modelyard.monitoring.drift import DriftSettings
    from modelyard.monitoring.report import drift_report, to_html, to_json

    reg_box: list[Any] = []
    try:
        with render.console.status("loading data…"):
            ref, ref_schema = _load(reference, project, reg_box)
            cur, _ = _load(current, project, reg_box)
    finally:
        for reg in reg_box:
            reg.close()
    cats, excl = set(_split(categorical)), set(_split(exclude))
    if ref_schema:
        for col in ref_schema.get("columns", []):
            if col.get("pii"):
                excl.add(col["name"])
            elif col.get("categorical"):
                cats.add(col["name"])
    try:
        settings = DriftSettings(alpha=alpha, multivariate=multivariate).validate()
    except ValueError as exc:
        from modelyard.core.errors import InvalidInput

        raise InvalidInput(str(exc)) from None
    with render.console.status("comparing…"):
        result = drift_report(
            ref,
            cur,
            settings,
            categorical=sorted(cats),
            exclude=sorted(excl),
            prediction=prediction,
        )
    if html is not None:
        html.write_text(to_html(result, title=f"Drift: {reference} → {current}"), "utf-8")
    if out is not None:
        out.write_text(to_json(result), "utf-8")
    if json_:
        print(to_json(result))
    else:
        _print_table(result, reference, current, html)
    if fail_on_drift and result.drifted:
        raise typer.Exit(1)


def _print_table(result: Any, reference: str, current: str, html: Path | None) -> None:
    rows = []
    feats = [*result.features, *([result.prediction] if result.prediction else [])]
    for f in sorted(
        feats, key=lambda f: ({"critical": 0, "warning": 1}.get(f.severity, 2), f.name)
    ):
        main = f.tests.get("ks") or f.tests.get("chi2")
        fired = ", ".join(s.signal for s in f.signals if s.drifted) or "-"
        psi = f.tests.get("psi")
        rows.append(
            [
                f.name + (" (prediction)" if f.role == "prediction" else ""),
                f.kind,
                f.severity,
                fired,
                "-" if main is None else f"{main.statistic:.4g}",
                "-" if psi is None else f"{psi.statistic:.4f}",
            ]
        )
    title = (
        f"{reference} → {current}: "
        + (f"drift in {len(result.drifted_features)}/{len(result.features)} features"
           if result.drifted else "no drift")
    )  # fmt: skip
    render.table(title, ["feature", "kind", "severity", "signals", "KS / χ²", "PSI"], rows)
    mv = result.multivariate
    if mv:
        verdict = "drift" if mv.get("drifted") else "no drift"
        render.console.print(f"multivariate: domain-classifier AUC {mv['auc']:.3f} ({verdict})")
    if html is not None:
        render.console.print(f"HTML report: {html}")
