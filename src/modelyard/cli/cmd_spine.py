"""Spine commands: init, data, runs, models, lineage, doctor, key, demo."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from modelyard.cli.app import (
    JsonOpt,
    ProjectOpt,
    app,
    data_app,
    key_app,
    models_app,
    open_registry,
    runs_app,
)
from modelyard.terminal import render

DEFAULT_PROJECT = Path(".")


@app.command()
def init(
    path: Annotated[
        Path, typer.Argument(help="Folder to create the project in.")
    ] = DEFAULT_PROJECT,
    name: Annotated[str | None, typer.Option(help="Project name (default: folder name).")] = None,
    identity: Annotated[
        str | None,
        typer.Option(
            help="'os' for a one-person project: MODELYARD_USER may then name the actor "
            "(recorded as an override). Default: the OS account acts, overrides are refused."
        ),
    ] = None,
) -> None:
    """Create a project: modelyard.yaml plus a local store in .modelyard/.

    Example: [bold]modelyard init my-project[/]
    """
    from modelyard.core.errors import InvalidInput
    from modelyard.core.project import GOVERNED_PROJECT
    from modelyard.registry.registry import Registry

    if identity not in (None, "account", "os"):
        raise InvalidInput(f"--identity must be 'account' or 'os', got {identity!r}")
    reg = Registry.init(
        path, name=name, env=dict(os.environ), template=GOVERNED_PROJECT, identity=identity
    )
    render.console.print(
        f"Initialised project [bold]{reg.config.name}[/] in {reg.settings.project_dir}\n"
        f"  metadata:  {reg.settings.store_url}\n  artifacts: {reg.settings.artifact_url}"
    )
    reg.close()


# ---- data ------------------------------------------------------------------------------
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


# ---- runs ------------------------------------------------------------------------------
@runs_app.command("list")
def runs_list(
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Only runs of this model.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many runs.")] = 50,
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """List training runs, newest first.

    Example: [bold]modelyard runs list --model arrests[/]
    """
    with open_registry(project) as reg:
        runs = reg.store.runs.all(model, limit)
    if json_:
        render.emit_json(
            [
                {
                    k: getattr(r, k)
                    for k in (
                        "id",
                        "model_name",
                        "status",
                        "params",
                        "seed",
                        "created_by",
                        "started_at",
                        "ended_at",
                    )
                }
                for r in runs
            ]
        )
        return
    render.table(
        "Runs",
        ["run", "model", "status", "params", "by", "started"],
        [
            (
                r.id[:12],
                r.model_name,
                r.status,
                len(r.params),
                r.created_by,
                render.ago(r.started_at),
            )
            for r in runs
        ],
    )


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix is enough).")],
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """Show one run: code, environment, params, metrics, inputs, outputs.

    Example: [bold]modelyard runs show 3f2a9c[/]
    """
    with open_registry(project) as reg:
        run = reg.store.runs.get(run_id)
        metrics = reg.store.runs.metrics(run.id)
        inputs = reg.store.runs.inputs(run.id)
        outputs = reg.store.versions.of_run(run.id)
    data = {
        **{
            k: getattr(run, k)
            for k in (
                "id",
                "model_name",
                "status",
                "params",
                "seed",
                "environment",
                "created_by",
                "started_at",
                "ended_at",
                "error",
            )
        },
        "metrics": [{k: getattr(m, k) for k in ("key", "value", "step")} for m in metrics],
        "inputs": [
            {"ref": i.dataset.ref, "role": i.role, "digest": i.dataset.digest} for i in inputs
        ],
        "model_versions": [v.ref for v in outputs],
    }
    if json_:
        render.emit_json(data)
        return
    git = run.environment.get("git") or {}
    render.console.print(
        f"[bold]run {run.id}[/]  model {run.model_name}  status {run.status}  by "
        f"{run.created_by}\ncode: commit {git.get('commit') or '(not a git repo)'}"
        f"{'  dirty diff ' + str(git.get('diff_sha256'))[:12] if git.get('dirty') else ''}\n"
        f"lock: {run.environment.get('lock_sha256') or '(none found)'}  python "
        f"{run.environment.get('python')}  seed {run.seed}"
    )
    render.table("Params", ["param", "value"], sorted(run.params.items()))
    render.table(
        "Metrics",
        ["metric", "value", "step"],
        [(m["key"], f"{m['value']:.6g}", m["step"]) for m in data["metrics"]],
    )
    render.table(
        "Inputs",
        ["dataset", "role", "digest"],
        [(i["ref"], i["role"], i["digest"][:16]) for i in data["inputs"]],
    )
    if run.error:
        render.console.print(f"[red]error:[/]\n{run.error}")


# ---- models ----------------------------------------------------------------------------
@models_app.command("list")
def models_list(
    name: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """List model versions with lifecycle state and owner (the catalog of versions).

    Example: [bold]modelyard models list arrests[/]
    """
    with open_registry(project) as reg:
        versions = reg.model_versions(name)
        routes = reg.store.routes.all()
    served: dict[int, list[str]] = {}
    for r in routes:
        served.setdefault(r.model_version_id, []).append(f"{r.endpoint}:{r.role}")
    items = [
        {
            "ref": v.ref,
            "state": v.state,
            "flavor": v.flavor,
            "owner": v.card.get("owner"),
            "run_id": v.run_id,
            "digest": v.artifact_digest,
            "size_bytes": v.size_bytes,
            "routes": served.get(v.id, []),
            "created_at": v.created_at,
        }
        for v in versions
    ]
    if json_:
        render.emit_json(items)
        return
    render.table(
        "Model versions",
        ["version", "state", "flavor", "owner", "routes", "size", "created"],
        [
            (
                i["ref"],
                render.state(i["state"]),
                i["flavor"],
                i["owner"] or "[red]none[/]",
                ", ".join(i["routes"]),
                f"{i['size_bytes'] / 1024:.1f} KiB",
                render.ago(i["created_at"]),
            )
            for i in items
        ],
    )


@models_app.command("show")
def models_show(
    ref: Annotated[str, typer.Argument(help="MODEL or MODEL@VERSION.")],
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """Show a model version: card, signature and lifecycle history.

    Example: [bold]modelyard models show arrests@2[/]
    """
    with open_registry(project) as reg:
        mv = reg.model_version(ref)
        history = reg.store.versions.transitions_of(mv.id)
    data = {
        "ref": mv.ref,
        "state": mv.state,
        "flavor": mv.flavor,
        "trusted": mv.trusted,
        "artifact_digest": mv.artifact_digest,
        "size_bytes": mv.size_bytes,
        "run_id": mv.run_id,
        "card": mv.card,
        "signature": mv.signature,
        "history": [
            {k: getattr(h, k) for k in ("from_state", "to_state", "actor", "reason", "at")}
            for h in history
        ],
    }
    if json_:
        render.emit_json(data)
        return
    card = mv.card
    sla = card.get("sla") or {}
    render.console.print(
        f"[bold]{mv.ref}[/]  {render.state(mv.state)}  {mv.flavor}"
        f"{' [red](trusted: may run code when loaded)[/]' if mv.trusted else ''}\n"
        f"owner: {card.get('owner') or '[red]none[/]'}  objective: {card.get('objective') or '-'}  "
        f"KPI: {card.get('kpi') or '-'}\nSLA: p99 ≤ {sla.get('latency_p99_ms')} ms, availability "
        f"{sla.get('availability')}, escalation {sla.get('escalation') or '-'}\n"
        f"artifact sha256:{mv.artifact_digest}  run {mv.run_id or '-'}"
    )
    render.table(
        "Signature inputs",
        ["name", "type", "nullable", "categories"],
        [
            (i["name"], i["type"], i["nullable"], len(i.get("categories", [])) or "")
            for i in mv.signature.get("inputs", [])
        ],
    )
    render.table(
        "Lifecycle",
        ["from", "to", "actor", "reason", "at"],
        [(h.from_state or "-", h.to_state, h.actor, h.reason, render.ago(h.at)) for h in history],
    )


# ---- lineage ---------------------------------------------------------------------------
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


# ---- doctor ----------------------------------------------------------------------------
@app.command()
def doctor(
    project: ProjectOpt = DEFAULT_PROJECT,
    clean: Annotated[bool, typer.Option(help="Delete leftovers of interrupted writes.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Check the store: migrations current, every artifact present and matching its digest.

    Exits 1 when a problem is found. Example: [bold]modelyard doctor[/]
    """
    from rich.progress import Progress

    from modelyard.registry import doctor as doc

    with open_registry(project) as reg:
        with Progress(console=render.err_console, transient=True, disable=json_) as bar:
            task = bar.add_task("verifying artifacts", total=None)
            report = doc.check(reg, lambda i, n: bar.update(task, completed=i, total=n))
        cleaned = doc.clean_partials(reg, report) if clean else 0
    if json_:
        render.emit_json(
            {
                "ok": report.ok,
                "schema_revision": report.schema_revision,
                "head_revision": report.head_revision,
                "artifacts_checked": report.artifacts_checked,
                "problems": report.problems,
                "partial_objects": report.partial_objects,
                "cleaned": cleaned,
                "stale_runs": report.stale_runs,
            }
        )
    else:
        render.console.print(
            f"schema revision {report.schema_revision} (newest {report.head_revision})\n"
            f"artifacts verified: {report.artifacts_checked}"
        )
        for p in report.problems:
            render.console.print(f"[red]✗[/] {p}")
        if report.partial_objects:
            render.console.print(
                f"{len(report.partial_objects)} leftover temporary file(s) from interrupted writes "
                f"(never visible as objects){'; removed' if cleaned else '; --clean removes them'}"
            )
        if report.stale_runs:
            render.console.print(f"{len(report.stale_runs)} run(s) still marked running")
        render.console.print(
            "[green]store is healthy[/]" if report.ok else "[red]store has problems[/]"
        )
    if not report.ok:
        raise typer.Exit(1)


# ---- keys ------------------------------------------------------------------------------
@key_app.command("generate")
def key_generate(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the key to this file (mode 600).")
    ] = None,
) -> None:
    """Create a random AES-256 key (base64) for MODELYARD_ENCRYPTION_KEY[_FILE].

    Example: [bold]modelyard key generate -o ~/.modelyard.key[/]
    """
    from modelyard.security.keys import new_key_text

    text = new_key_text()
    if out is None:
        typer.echo(text)
        return
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")
    render.console.print(f"wrote key to {out}; set MODELYARD_ENCRYPTION_KEY_FILE={out}")


@key_app.command("reencrypt")
def key_reencrypt(project: ProjectOpt = DEFAULT_PROJECT, json_: JsonOpt = False) -> None:
    """Rewrite every artifact under the current key (after a rotation, or to encrypt old
    plaintext objects). Old keys stay configured until this finishes.

    Example: [bold]MODELYARD_ENCRYPTION_KEY_FILE=keys modelyard key reencrypt[/]
    """
    from rich.progress import Progress

    with open_registry(project) as reg:
        digests = list(reg.artifacts.digests())
        changed = 0
        with Progress(console=render.err_console, transient=True, disable=json_) as bar:
            task = bar.add_task("re-encrypting", total=len(digests))
            for digest in digests:
                changed += reg.artifacts.reencrypt(digest)
                bar.advance(task)
    if json_:
        render.emit_json({"artifacts": len(digests), "rewritten": changed})
    else:
        render.console.print(
            f"{changed} of {len(digests)} artifact(s) rewritten under the current key"
        )


# ---- demo ------------------------------------------------------------------------------
@app.command()
def demo(
    path: Annotated[
        Path | None,
        typer.Option("--path", help="Folder for the demo project (default: a new temp folder)."),
    ] = None,
    keep_serving: Annotated[
        bool,
        typer.Option(
            "--keep-serving", help="Leave the server (and its dashboard) up to explore; Ctrl-C."
        ),
    ] = False,
) -> None:
    """Run the end-to-end demo on real data shipped with an installed package.

    Example: [bold]modelyard demo --keep-serving[/]
    """
    from modelyard.demo.story import run_demo

    run_demo(path, render.console, keep_serving=keep_serving)
