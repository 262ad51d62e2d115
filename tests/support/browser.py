"""Debian's Chromium for browser tests, driven by Playwright (which never downloads a browser of
its own here). ``tests/support/system_deps.sh`` installs it; a test never does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.system_tools import require_program

CHROMIUM = "/usr/bin/chromium"
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


def ensure_chromium() -> str:
    """Path of Debian's Chromium: a failure in CI (``MODELYARD_REQUIRE_BROWSER``) when it is
    missing, a skip naming the install command elsewhere."""
    return require_program(CHROMIUM, "chromium", "MODELYARD_REQUIRE_BROWSER")


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

    with Registry.open(project, env={}) as reg:
        secrets = {
            role: tokens.create(reg.store, f"{role}-1", role, "admin").secret for role in roles
        }
    with served(
        project, "--tokens", log=project.parent / "ui.log", command="ui", ready="/ui/login"
    ) as (base, _):
        yield base, secrets
