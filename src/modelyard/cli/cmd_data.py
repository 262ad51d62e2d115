"""Dataset commands: register versions (add), tag columns, list and show them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from modelyard.cli.app import (
    DEFAULT_PROJECT,
    JsonOpt,
    ProjectOpt,
    data_app,
    open_registry,
)
from modelyard.terminal import render


def _dataset_dict(ds: Any) -> dict[str, Any]:
    return {
        "ref": ds.ref,
        "name": ds.name,
        "version": ds.version,
        "digest": ds.digest,
        "rows": ds.n_rows,
        "columns": ds.n_cols,
        "source": ds.source,
        "created_by": ds.created_by,
        "created_at": ds.created_at,
    }


@data_app.command("add")
def data_add(
    path: Annotated[Path, typer.Argument(help="CSV, TSV or Parquet file.")],
    name: Annotated[str, typer.Option("--name", "-n", help="Dataset name.")],
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """Register a file as an immutable dataset version (same content → same version).

    Example: [bold]modelyard data add flights.parquet --name flights[/]
    """
    with open_registry(project) as reg:
        with render.console.status(f"hashing and profiling {path.name}…"):
            ds = reg.add_dataset(path, name=name)
        if json_:
            render.emit_json({**_dataset_dict(ds), "created": ds.created})
            return
        verb = "registered" if ds.created else "already registered as"
        render.console.print(
            f"{verb} [bold]{ds.ref}[/]  {ds.n_rows:,} rows, {ds.n_cols} columns  "
            f"sha256:{ds.digest[:16]}"
        )
        if not ds.created:
            from modelyard.registry.profile import tags_of

            if tags_of(ds.schema) != reg.config.dataset(ds.name):
                render.err_console.print(
                    f"[yellow]its tags differ from modelyard.yaml's datasets entry[/]; apply "
                    f"them with: modelyard data tag {ds.ref} --from-project"
                )


def _columns(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [c.strip() for c in value.split(",") if c.strip()]


@data_app.command("tag")
def data_tag(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION (or NAME: the newest version).")],
    from_project: Annotated[
        bool,
        typer.Option("--from-project", help="Apply the project file's datasets entry."),
    ] = False,
    target: Annotated[str | None, typer.Option(help="The label column.")] = None,
    protected: Annotated[
        str | None, typer.Option(help="Protected attributes, comma-separated ('' for none).")
    ] = None,
    pii: Annotated[
        str | None, typer.Option(help="Columns holding personal data, comma-separated.")
    ] = None,
    categorical: Annotated[
        str | None, typer.Option(help="Columns to treat as categorical, comma-separated.")
    ] = None,
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """Set the tags of a registered dataset version; its content and digest stay the same.

    Example: [bold]modelyard data tag arrests@1 --target released --protected colour,sex[/]
    """
    from modelyard.core.errors import InvalidInput

    given = (target, protected, pii, categorical)
    if not from_project and all(v is None for v in given):
        raise InvalidInput(
            "nothing to tag: give --from-project and/or --target/--protected/--pii/--categorical"
        )
    with open_registry(project) as reg:
        before = reg.dataset(ref)
        ds = reg.tag_dataset(
            before.ref,
            target=target,
            protected=_columns(protected),
            pii=_columns(pii),
            categorical=_columns(categorical),
            from_project=from_project,
        )
    if json_:
        render.emit_json({**_dataset_dict(ds), "schema": ds.schema})
        return
    from modelyard.registry.profile import tags_of

    tags = tags_of(ds.schema)
    render.console.print(
        f"[bold]{ds.ref}[/] "
        + ("tags unchanged" if ds.schema == before.schema else "tagged")
        + f": target {tags.target or '—'}, protected {', '.join(tags.protected) or '—'}, "
        f"pii {', '.join(tags.pii) or '—'}  (content sha256:{ds.digest[:16]} unchanged)"
    )


@data_app.command("list")
def data_list(
    name: Annotated[str | None, typer.Argument(help="Only this dataset.")] = None,
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """List dataset versions.

    Example: [bold]modelyard data list --json[/]
    """
    with open_registry(project) as reg:
        items = [_dataset_dict(d) for d in reg.datasets(name)]
    if json_:
        render.emit_json(items)
        return
    render.table(
        "Datasets",
        ["dataset", "rows", "cols", "digest", "by", "created"],
        [
            (
                d["ref"],
                f"{d['rows']:,}",
                d["columns"],
                d["digest"][:12],
                d["created_by"],
                render.ago(d["created_at"]),
            )
            for d in items
        ],
    )


@data_app.command("show")
def data_show(
    ref: Annotated[str, typer.Argument(help="NAME or NAME@VERSION.")],
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """Show a dataset version: schema, tags and baseline profile.

    Example: [bold]modelyard data show arrests@1[/]
    """
    with open_registry(project) as reg:
        ds = reg.dataset(ref)
    if json_:
        render.emit_json({**_dataset_dict(ds), "schema": ds.schema, "profile": ds.profile})
        return
    render.console.print(
        f"[bold]{ds.ref}[/]  {ds.n_rows:,} rows  sha256:{ds.digest}\nsource: {ds.source}"
    )
    prof = ds.profile["columns"]
    rows = []
    for c in ds.schema["columns"]:
        p = prof.get(c["name"], {})
        tags = ",".join(t for t in ("pii", "protected", "target") if c.get(t))
        if p.get("kind") == "numeric" and "min" in p:
            summary = f"min {p['min']:.4g}  mean {p['mean']:.4g}  max {p['max']:.4g}"
        elif p.get("kind") == "categorical":
            summary = f"{p.get('cardinality', 0)} levels"
        else:
            summary = ""
        rows.append(
            (
                c["name"],
                c["type"] + (" (cat)" if c["categorical"] else ""),
                "yes" if c["nullable"] else "",
                p.get("missing", 0),
                tags,
                summary,
            )
        )
    render.table(
        "Schema and profile", ["column", "type", "nullable", "missing", "tags", "profile"], rows
    )
