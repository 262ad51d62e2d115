"""Governance commands: approve, reject, audit, token."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from modelyard.cli.app import JsonOpt, ProjectOpt, app, open_registry
from modelyard.terminal import render

DEFAULT_PROJECT = Path(".")
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens and roles.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(token_app, name="token")

CommentOpt = Annotated[str, typer.Option("--comment", "-m", help="Why (recorded).")]


@app.command()
def approve(
    ref: Annotated[str, typer.Argument(help="MODEL@VERSION (validated).")],
    comment: CommentOpt,
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """Approve a validated version (four-eyes: not its author, unless the policy allows).

    Example: [bold]modelyard approve arrests@2 -m "fairness report reviewed"[/]
    """
    from modelyard.cli.remote import remote

    server = remote()
    if server is not None:
        doc = server.call("POST", f"/models/{ref}/approve", {"comment": comment})
        if json_:
            render.emit_json(doc)
        else:
            render.console.print(
                f"{doc['ref']}: {doc['state']} ({doc['approvals']}/{doc['required']})"
            )
        return
    from modelyard.registry.approvals import approve as do_approve
    from modelyard.security.access import local_identity

    with open_registry(project) as reg:
        d = do_approve(reg, ref, local_identity(reg.actor), comment)
    if json_:
        render.emit_json(
            {
                "ref": d.version.ref,
                "state": d.version.state,
                "approvals": d.approvals,
                "required": d.required,
            }
        )
        return
    status = "approved" if d.approved else f"{d.approvals}/{d.required} approvals so far"
    render.console.print(f"{d.version.ref}: {status}")


@app.command()
def reject(
    ref: Annotated[str, typer.Argument(help="MODEL@VERSION.")],
    comment: CommentOpt,
    project: ProjectOpt = DEFAULT_PROJECT,
) -> None:
    """Reject a version with the reason.

    Example: [bold]modelyard reject arrests@3 -m "unfair to younger arrestees"[/]
    """
    from modelyard.cli.remote import remote

    server = remote()
    if server is not None:
        doc = server.call("POST", f"/models/{ref}/reject", {"comment": comment})
        render.console.print(f"{doc['ref']}: {render.state(doc['state'])}")
        return
    from modelyard.registry.approvals import reject as do_reject
    from modelyard.security.access import local_identity

    with open_registry(project) as reg:
        mv = do_reject(reg, ref, local_identity(reg.actor), comment)
    render.console.print(f"{mv.ref}: {render.state(mv.state)}")


@audit_app.command("verify")
def audit_verify(project: ProjectOpt = DEFAULT_PROJECT, json_: JsonOpt = False) -> None:
    """Check the whole chain: any edited, deleted, reordered or truncated entry is named.

    The chain is checked against the signing key and the newest checkpoint of every anchor
    (project file `audit.anchors`); an intact chain is then checkpointed. Exits 1 when the
    chain is broken. Example: [bold]modelyard audit verify[/]
    """
    from modelyard.cli.remote import remote
    from modelyard.core.audit import VerifyResult
    from modelyard.registry import access

    server, signed, checkpointed = remote(), False, None
    if server is not None:
        result = VerifyResult(**server.call("GET", "/audit/verify"))
        signed = result.signing_key is not None
    else:
        with open_registry(project) as reg:
            result = access.verify_audit(reg)
            signed = access.audit_signed(reg)
            if result.ok and access.audit_anchors(reg):
                checkpointed = access.checkpoint_audit(reg).seq
    if json_:
        render.emit_json(
            {
                "ok": result.ok,
                "entries": result.entries,
                "first_bad_seq": result.first_bad_seq,
                "problem": result.problem,
                "signing_key": result.signing_key,
                "checkpoint_seq": result.checkpoint_seq,
            }
        )
    elif result.ok:
        anchored = (
            f", matches checkpoint {result.checkpoint_seq}"
            if result.checkpoint_seq is not None
            else ""
        )
        render.console.print(
            f"[green]audit chain intact[/]: {result.entries} entries verified"
            f"{' with signatures' if signed else ''}{anchored}"
            f"{f'; checkpoint {checkpointed} written' if checkpointed is not None else ''}"
        )
    else:
        render.console.print(
            f"[red]audit chain broken[/] at entry {result.first_bad_seq}: {result.problem}"
        )
    if not result.ok:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def audit_checkpoint(project: ProjectOpt = DEFAULT_PROJECT, json_: JsonOpt = False) -> None:
    """Verify the chain and write a signed checkpoint (sequence, hash, time) of its head to
    every anchor. Run it from cron or CI; `audit verify` and the monitor do it too.

    Example: [bold]modelyard audit checkpoint[/]
    """
    from modelyard.registry import access

    with open_registry(project) as reg:
        cp = access.checkpoint_audit(reg)
        where = access.audit_anchors(reg)
    if json_:
        render.emit_json({"seq": cp.seq, "hash": cp.hash, "at": cp.at, "anchors": where})
        return
    render.console.print(f"checkpoint {cp.seq} ({cp.hash[:16]}…) written to {', '.join(where)}")


@audit_app.command("rotate-key")
def audit_rotate_key(
    new: Annotated[Path, typer.Option("--new", help="The new Ed25519 key (PEM).")],
    reason: Annotated[str, typer.Option("--reason", "-m", help="Why (recorded).")] = "rotation",
    project: ProjectOpt = DEFAULT_PROJECT,
) -> None:
    """Hand audit signing over to a new key: an audited entry signed by the current key
    (MODELYARD_AUDIT_KEY_FILE). Then point MODELYARD_AUDIT_KEY_FILE at the new key.

    Example: [bold]modelyard audit rotate-key --new audit-2027.pem -m "yearly rotation"[/]
    """
    from modelyard.registry import access
    from modelyard.security.audit import load_signing_key

    key = load_signing_key(new)
    with open_registry(project) as reg:
        seq = access.rotate_audit_key(reg, key, reason)
    render.console.print(
        f"entry {seq}: audit signing moves to {new}; set MODELYARD_AUDIT_KEY_FILE={new} now"
    )


@audit_app.command("grants")
def audit_grants(
    role: Annotated[str, typer.Argument(help="The PostgreSQL role the server connects as.")],
    apply: Annotated[
        bool, typer.Option("--apply", help="Run the statements (as the store's owner).")
    ] = False,
    project: ProjectOpt = DEFAULT_PROJECT,
) -> None:
    """Least privilege on PostgreSQL: the statements that let ROLE use the store but only
    SELECT and INSERT on the audit log (no UPDATE, DELETE, TRUNCATE, no DDL).

    Example: [bold]modelyard audit grants modelyard_app --apply[/]
    """
    from modelyard.registry.access import least_privilege

    with open_registry(project) as reg:
        statements = least_privilege(reg, role, apply=apply)
    for statement in statements:
        typer.echo(statement + ";")
    if apply:
        render.console.print(f"[green]applied[/] {len(statements)} statements for {role}")


@audit_app.command("show")
def audit_show(
    model: Annotated[str | None, typer.Option("--model", help="MODEL or MODEL@VERSION.")] = None,
    actor: Annotated[str | None, typer.Option(help="Only this actor.")] = None,
    action: Annotated[
        str | None, typer.Option(help="Only this action, e.g. model.transition.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1)] = 200,
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """Who did what: the audit entries, oldest first.

    Example: [bold]modelyard audit show --model arrests[/]
    """
    from modelyard.cli.remote import remote
    from modelyard.registry.access import audit_history

    server = remote()
    if server is not None:
        params = {k: v for k, v in (("model", model), ("actor", actor), ("action", action)) if v}
        rows = server.call("GET", "/audit", params={**params, "limit": str(limit)})
    else:
        with open_registry(project) as reg:
            entries = audit_history(reg, model, actor=actor, action=action, limit=limit)
            rows = [dataclasses.asdict(e) for e in entries]
    if json_:
        render.emit_json(
            [
                {
                    k: r[k]
                    for k in ("seq", "at", "actor", "action", "target", "reason", "data", "hash")
                }
                for r in rows
            ]
        )
        return
    render.table(
        "Audit",
        ["#", "at", "actor", "action", "target", "reason"],
        [
            (r["seq"], render.ago(r["at"]), r["actor"], r["action"], r["target"], r["reason"][:80])
            for r in rows
        ],
    )


@audit_app.command("keygen")
def audit_keygen(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Where to write the PEM key (mode 600).")
    ],
) -> None:
    """Create an Ed25519 key that signs audit entries (MODELYARD_AUDIT_KEY_FILE).

    Example: [bold]modelyard audit keygen -o audit.pem[/]
    """
    from modelyard.security.audit import generate_signing_key

    generate_signing_key(out)
    render.console.print(f"wrote {out}; set MODELYARD_AUDIT_KEY_FILE={out} on the server")


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option("--name", "-n", help="Who or what uses it.")],
    role: Annotated[
        str,
        typer.Option("--role", "-r", help="viewer, data-scientist, reviewer, deployer or admin."),
    ],
    expires_days: Annotated[
        float | None, typer.Option("--expires-days", help="Lifetime in days.")
    ] = None,
    principal: Annotated[
        str | None,
        typer.Option(
            "--principal",
            help="Whose token: a name (user:NAME) or os:UID:NAME; one principal may hold "
            "several tokens, none of which may approve that principal's versions. "
            "Default: a principal named after the token.",
        ),
    ] = None,
    project: ProjectOpt = DEFAULT_PROJECT,
    json_: JsonOpt = False,
) -> None:
    """Create an API token; it is shown once and stored only as a hash.

    Example: [bold]modelyard token create --name alice-ci --role data-scientist --principal alice[/]
    """
    from modelyard.cli.remote import remote
    from modelyard.registry import access

    server = remote()
    if server is not None:
        body: dict[str, object] = {"name": name, "role": role}
        if expires_days is not None:
            body["expires_days"] = expires_days
        if principal is not None:
            body["principal"] = principal
        doc = server.call("POST", "/tokens", body)
        if json_:
            render.emit_json(doc)
        else:
            render.console.print(f"token for [bold]{doc['name']}[/] (role {doc['role']}):")
            typer.echo(doc["token"])
        return
    with open_registry(project) as reg:
        tok = access.create_token(reg, name, role, reg.settings.user, expires_days, principal)
    if json_:
        render.emit_json(
            {
                "id": tok.id,
                "name": tok.name,
                "role": tok.role.value,
                "principal": tok.principal,
                "token": tok.secret,
                "expires_at": tok.expires_at,
            }
        )
        return
    render.console.print(
        f"token for [bold]{tok.name}[/] (role {tok.role.value}, principal {tok.principal}); "
        "store it now, "
        "it is not shown again:"
    )
    typer.echo(tok.secret)


@token_app.command("list")
def token_list(project: ProjectOpt = DEFAULT_PROJECT, json_: JsonOpt = False) -> None:
    """List tokens (never their secrets).

    Example: [bold]modelyard token list[/]
    """
    from modelyard.registry.access import list_tokens

    with open_registry(project) as reg:
        items = list_tokens(reg)
    if json_:
        render.emit_json(items)
        return
    render.table(
        "Tokens",
        ["id", "name", "role", "principal", "by", "created", "expires", "revoked"],
        [
            (
                i["id"],
                i["name"],
                i["role"],
                i["principal"] or "",
                i["created_by"],
                render.ago(i["created_at"]),
                render.ago(i["expires_at"]) or "never",
                render.ago(i["revoked_at"]),
            )
            for i in items
        ],
    )


@token_app.command("revoke")
def token_revoke(
    name: Annotated[str, typer.Argument(help="Token name.")],
    project: ProjectOpt = DEFAULT_PROJECT,
) -> None:
    """Revoke a token at once.

    Example: [bold]modelyard token revoke ci[/]
    """
    from modelyard.cli.remote import remote
    from modelyard.registry import access

    server = remote()
    if server is not None:
        server.call("DELETE", f"/tokens/{name}")
    else:
        with open_registry(project) as reg:
            access.revoke_token(reg, name, reg.settings.user)
    render.console.print(f"revoked {name}")


@token_app.command("roles")
def token_roles(
    json_: JsonOpt = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the docs table.")] = False,
) -> None:
    """The permission table: what each role may do (generated from the code).

    Example: [bold]modelyard token roles --markdown > docs/permissions.md[/]
    """
    from modelyard.security.access import permission_markdown, permission_table

    if markdown:
        from modelyard.web.api import OPS, PREFIX

        routes = [(op.method, PREFIX + op.path, op.permission.value) for op in OPS]
        typer.echo(permission_markdown(routes), nl=False)
        return

    table = permission_table()
    if json_:
        render.emit_json(dict(table))
        return
    render.table("Roles", ["role", "permissions"], [(r, ", ".join(p)) for r, p in table])
