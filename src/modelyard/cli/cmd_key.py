"""Encryption-key commands: generate a key, re-encrypt artifacts at rest under a new one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from modelyard.cli.app import (
    DEFAULT_PROJECT,
    JsonOpt,
    ProjectOpt,
    key_app,
    open_registry,
)
from modelyard.terminal import render


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
