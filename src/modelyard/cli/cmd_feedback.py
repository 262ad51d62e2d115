"""Feedback commands: labels from files, export for retraining, and the human review queue."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from modelyard.cli.app import JsonOpt, ProjectOpt, app, open_registry
from modelyard.core.errors import InvalidInput
from modelyard.terminal import render

DEFAULT_PROJECT = Path(".")
CHUNK = 5_000  # labels per API request (the body limit is 1 MiB)


class _FileByDefault(TyperGroup):
    """`modelyard feedback FILE` means `modelyard feedback add FILE`."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["add", *args]
        return super().parse_args(ctx, args)


feedback_app = typer.Typer(
    cls=_FileByDefault,
    help="Feedback labels for served predictions: `modelyard feedback FILE` (short for "
    "`feedback add FILE`), or `feedback export`.\n\n"
    "Example: [bold]modelyard feedback labels.csv[/]",
    no_args_is_help=True,
)
review_app = typer.Typer(
    help="The human review queue.\n\nExample: [bold]modelyard review list --endpoint arrests[/]",
    no_args_is_help=True,
)
app.add_typer(feedback_app, name="feedback")
app.add_typer(review_app, name="review")


# ---- feedback FILE ------------------------------------------------------------------------
def read_labels(
    path: Path, id_column: str, label_column: str, endpoint_column: str | None = "endpoint"
) -> list[Any]:
    """Labels from a CSV, TSV, JSONL or Parquet file, each row checked (the error names it)."""
    from modelyard.core.feedback_records import Label
    from modelyard.monitoring.feedback import check_label, check_prediction_id

    df = _read(path)
    missing = [c for c in (id_column, label_column) if c not in df.columns]
    if missing:
        raise InvalidInput(
            f"{path.name} has no column {missing[0]!r}",
            hint=f"columns are: {', '.join(map(str, df.columns))}; choose them with "
            "--id-column / --label-column",
        )
    if df.empty:
        raise InvalidInput(f"{path.name} holds no labels")
    has_endpoint = endpoint_column is not None and endpoint_column in df.columns
    labels = []
    for i, row in enumerate(df.to_dict("records")):
        where = f"{path.name} row {i + 1}"
        pid = row[id_column]
        pid = check_prediction_id(
            pid if isinstance(pid, str) else None if pid is None else str(pid), where
        )
        value = row[label_column]
        value = value.item() if hasattr(value, "item") else value
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # CSV reads 0/1 with a missing value as floats
        endpoint = row[endpoint_column] if has_endpoint and endpoint_column else None
        labels.append(
            Label(pid, check_label(value, where), endpoint if isinstance(endpoint, str) else None)
        )
    return labels


def _read(path: Path) -> Any:
    import pandas as pd

    from modelyard.registry.tabular import read_table

    if path.suffix.lower() not in (".jsonl", ".ndjson"):
        return read_table(path)
    if not path.exists():
        from modelyard.core.errors import NotFound

        raise NotFound(f"no such file: {path}")
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise InvalidInput(f"{path.name} line {n} is not JSON: {exc}") from None
            if not isinstance(row, dict):
                raise InvalidInput(f"{path.name} line {n}: expected a JSON object per line")
            rows.append(row)
    return pd.DataFrame(rows)


@feedback_app.command("add")
def feedback_add(
    file: Annotated[Path, typer.Argument(help="CSV, TSV, JSONL or Parquet file of labels.")],
    id_column: Annotated[
        str, typer.Option("--id-column", help="Column holding the prediction id.")
    ] = "prediction_id",
    label_column: Annotated[
        str, typer.Option("--label-column", help="Column holding the label.")
    ] = "label",
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """Record labels for served predictions and join them to the prediction log.

    A later label for the same prediction id replaces the earlier one (audited). Labels whose
    prediction is not in the log yet are kept and joined by a later pass (`monitor run`).

    Example: [bold]modelyard feedback labels.csv --label-column released[/]
    """
    from modelyard.cli.remote import remote

    labels = read_labels(file, id_column, label_column)
    server = remote()
    if server is not None:
        received = 0
        for i in range(0, len(labels), CHUNK):
            body = [
                {"prediction_id": x.prediction_id, "label": x.label}
                | ({"endpoint": x.endpoint} if x.endpoint else {})
                for x in labels[i : i + CHUNK]
            ]
            received += int(server.call("POST", "/feedback", {"labels": body})["received"])
        _report({"received": received, "joined": None, "unknown": None}, json_)
        return
    from modelyard.monitoring.feedback import add_labels, joined_count
    from modelyard.orchestration.feedback import join_feedback

    with open_registry(project) as reg:
        done = add_labels(reg, labels, "file", reg.settings.user)
        join_feedback(reg)
        ids = list(dict.fromkeys(x.prediction_id for x in labels))
        joined = joined_count(reg, ids)
    _report(
        {
            "received": done.received,
            "new": done.new,
            "replaced": done.replaced,
            "unchanged": done.unchanged,
            "joined": joined,
            "unknown": len(ids) - joined,
        },
        json_,
    )


def _report(doc: dict[str, Any], json_: bool) -> None:
    if json_:
        render.emit_json(doc)
        return
    line = f"received {doc['received']} labels"
    if doc.get("replaced"):
        line += f" ({doc['replaced']} replaced earlier labels)"
    if doc["joined"] is not None:
        line += f"; joined {doc['joined']}; unknown {doc['unknown']}"
        if doc["unknown"]:
            line += " (not in the prediction log yet: `monitor run` joins them later)"
    render.console.print(line)


# ---- feedback export -----------------------------------------------------------------------
@feedback_app.command("export")
def feedback_export(
    endpoint: Annotated[str, typer.Option("--endpoint", "-e", help="Endpoint whose labels.")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset name to register.")],
    label_column: Annotated[
        str | None,
        typer.Option("--label-column", help="Label column name (default: the dataset's target)."),
    ] = None,
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """Register the labelled inputs of an endpoint as a new dataset version, for retraining.

    Its `source` records the lineage: endpoint, model versions, prediction count, time range.

    Example: [bold]modelyard feedback export -e arrests -d arrests-labelled[/]
    """
    from modelyard.orchestration.feedback import export_feedback, join_feedback

    with open_registry(project) as reg:
        join_feedback(reg)
        ds, lineage = export_feedback(reg, endpoint, dataset, label_column)
    doc = {"dataset": ds.ref, "rows": ds.n_rows, "created": ds.created, "lineage": lineage}
    if json_:
        render.emit_json(doc)
        return
    render.console.print(
        f"{ds.ref}: {ds.n_rows} rows from {lineage['predictions']} labelled predictions of "
        f"{endpoint} ({', '.join(lineage['versions'])}; {lineage['from']} → {lineage['to']})"
        + ("" if ds.created else " — identical to an existing version")
    )


# ---- review -------------------------------------------------------------------------------
@review_app.command("list")
def review_list(
    endpoint: Annotated[str | None, typer.Option("--endpoint", "-e", help="Only this one.")] = None,
    status: Annotated[
        str, typer.Option("--status", help="pending, confirmed, corrected or all.")
    ] = "pending",
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """Predictions waiting for a person (low confidence or sampled).

    Example: [bold]modelyard review list --endpoint arrests[/]
    """
    from modelyard.cli.remote import remote

    server = remote()
    if server is not None:
        params = {"status": status} | ({"endpoint": endpoint} if endpoint else {})
        items = server.call("GET", "/review", params=params)
    else:
        from modelyard.monitoring.feedback import review_items

        with open_registry(project) as reg:
            items = [dataclasses.asdict(i) for i in review_items(reg, endpoint, status)]
    if json_:
        render.emit_json(items)
        return
    render.table(
        "Review queue",
        ["id", "endpoint", "prediction", "predicted", "score", "reason", "status", "input"],
        [
            (
                i["id"],
                i["endpoint"],
                i["prediction_id"],
                _short((i["output"] or {}).get("predict")),
                "" if i["score"] is None else f"{i['score']:.3f}",
                i["reason"],
                i["status"] if not i["reviewer"] else f"{i['status']} by {i['reviewer']}",
                _short(i["input"]),
            )
            for i in items
        ],
    )


def _short(value: Any, width: int = 60) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def _decide(item_id: int, decision: str, label: Any, project: Path, json_: bool) -> None:
    from modelyard.cli.remote import remote

    server = remote()
    if server is not None:
        body = {"decision": decision} | ({"label": label} if label is not None else {})
        row = server.call("POST", f"/review/{item_id}", body)
    else:
        from modelyard.monitoring.feedback import decide

        with open_registry(project) as reg:
            row = dataclasses.asdict(decide(reg, item_id, decision, reg.settings.user, label))
    if json_:
        render.emit_json(row)
        return
    render.console.print(
        f"review item #{row['id']}: {row['status']} by {row['reviewer']} "
        f"(label {json.dumps(row['label'])})"
    )


@review_app.command("confirm")
def review_confirm(
    item_id: Annotated[int, typer.Argument(help="Review item id (see `review list`).")],
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """Confirm the model's answer: it becomes the prediction's label (you as reviewer).

    Example: [bold]modelyard review confirm 12[/]
    """
    _decide(item_id, "confirm", None, project, json_)


@review_app.command("correct")
def review_correct(
    item_id: Annotated[int, typer.Argument(help="Review item id (see `review list`).")],
    label: Annotated[str, typer.Option("--label", "-l", help="The right label.")],
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """Correct the model's answer with the right label (you as reviewer).

    A label that reads as JSON (1, 0.5, true) is stored as that value; anything else as text.

    Example: [bold]modelyard review correct 12 --label 0[/]
    """
    _decide(item_id, "correct", _parse_label(label), project, json_)


def _parse_label(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, str | int | float | bool) else text
