"""Debian's Chromium for browser tests: installed by the test setup if missing, driven by
Playwright (which never downloads a browser of its own here)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class BrowserUnavailable(RuntimeError):
    pass


def ensure_chromium() -> str:
    if CHROMIUM.exists():
        return str(CHROMIUM)
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0:
        raise BrowserUnavailable("Chromium is missing and only root can apt-get install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if done.returncode != 0:
            raise BrowserUnavailable(f"{' '.join(cmd)} failed: {done.stderr[-2000:]}")
    if not CHROMIUM.exists():
        raise BrowserUnavailable("apt-get installed chromium but /usr/bin/chromium is missing")
    return str(CHROMIUM)


def sign_in(browser: Any, base: str, token: str, height: int = 900) -> tuple[Any, list[str]]:
    """A new browser context signed in to the dashboard at ``base`` with ``token``: the page
    (on the catalog) and the list that collects its console errors and page errors."""
    ctx = browser.new_context(viewport={"width": 1280, "height": height})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/ui/")
    assert page.url.endswith("/ui/login"), "a visitor without a session is sent to sign in"
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/ui/")
    return page, errors


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium, launched headless through Playwright."""
    from playwright.sync_api import sync_playwright

    exe = ensure_chromium()
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=FLAGS)
        try:
            yield b
        finally:
            b.close()


@contextmanager
def dashboard(project: Path, roles: tuple[str, ...]) -> Iterator[tuple[str, dict[str, str]]]:
    """``modelyard ui --tokens`` over ``project`` (output to ``ui.log`` beside it), with an API
    token ``ROLE-1`` per role: (base URL, {role: secret})."""
    from modelyard.registry.registry import Registry
    from modelyard.security import tokens
    from tests.support.servers import served

    with Registry.open(project, env={"MODELYARD_USER": "admin"}) as reg:
        secrets = {
            role: tokens.create(reg.store, f"{role}-1", role, "admin").secret for role in roles
        }
    with served(
        project, "--tokens", log=project.parent / "ui.log", command="ui", ready="/ui/login"
    ) as (base, _):
        yield base, secrets
