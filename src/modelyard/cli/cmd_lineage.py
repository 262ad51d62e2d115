"""The lineage command: where a dataset version or model version came from and went."""

from __future__ import annotations

from typing import Annotated

import typer

from modelyard.cli.app import (
    DEFAULT_PROJECT,
    JsonOpt,
    ProjectOpt,
    app,
    open_registry,
)
from modelyard.terminal import render


@app.command()
def lineage(
    target: Annotated[
        str, typer.Argument(help="MODEL@VERSION, or the word 'dataset' or 'prediction'.")
    ],
    ref: Annotated[
        str | None,
        typer.Argument(help="With 'dataset': NAME@VERSION; with 'prediction': its id."),
    ] = None,
    endpoint: Annotated[
        str | None,
        typer.Option(help="With 'prediction': look only in this endpoint's log (faster)."),
    ] = None,
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """Walk lineage: data → run (code, lock, params) → model version → reports → deployments,
    or from one prediction id back through the answer, the version, its run, data and code.

    Examples: [bold]modelyard lineage arrests@2[/] · [bold]modelyard lineage dataset arrests@1[/]
    · [bold]modelyard lineage prediction 6f1c…[/]
    """
    from modelyard.registry import lineage as lin

    if target in ("dataset", "prediction") and not ref:
        what = "NAME@VERSION" if target == "dataset" else "PREDICTION_ID"
        raise typer.BadParameter(f"give the {target}: modelyard lineage {target} {what}")
    with open_registry(project) as reg:
        if target == "dataset":
            assert ref is not None
            graph = lin.dataset_lineage(reg, ref)
        elif target == "prediction":
            from modelyard.orchestration.prediction_lineage import prediction_lineage

            assert ref is not None
            graph = prediction_lineage(reg, ref, endpoint)
        else:
            graph = lin.model_lineage(reg, target)
    if json_:
        render.emit_json(graph)
        return
    from modelyard.terminal.lineage_view import (
        print_dataset_lineage,
        print_model_lineage,
        print_prediction,
    )

    if target == "dataset":
        print_dataset_lineage(graph)
        return
    if target == "prediction":
        print_prediction(graph)
    print_model_lineage(graph)
