"""The dashboard in-process (Starlette's TestClient over a real store), signed in the way a
browser is: local mode through the launch URL's ``?token=``, token mode through the sign-in
form with its CSRF token. ``csrf(client)`` is the session's token, for posting forms."""

from __future__ import annotations

import re
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from modelyard.registry.registry import Registry
from modelyard.security.access import local_identity
from modelyard.web.ui import dashboard_app

LAUNCH = "launch-secret-of-this-test"


def app(reg: Registry, local: bool, user: str = "tester", launch: str = LAUNCH) -> Starlette:
    """The dashboard mounted at ``/ui``: local mode acts as ``user`` (launch secret ``launch``)."""
    who = local_identity(user) if local else None
    return Starlette(
        routes=[Mount("/ui", dashboard_app(reg, "/ui", who, launch if local else None))]
    )


def client(reg: Registry, local: bool, user: str = "tester", **kw: Any) -> TestClient:
    """A client; in local mode already through the launch URL (so it holds a session)."""
    c = TestClient(app(reg, local, user), **kw)
    if local:
        entered = c.get(f"/ui/?token={LAUNCH}", follow_redirects=False)
        assert entered.status_code == 303, entered.text
    return c


def form_token(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]*)"', html)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


def sign_in(c: TestClient, token: str) -> None:
    """Token mode: the sign-in form, as a browser fills it."""
    csrf = form_token(c.get("/ui/login").text)
    done = c.post("/ui/login", data={"token": token, "csrf": csrf}, follow_redirects=False)
    assert done.status_code == 303, done.text


def csrf(c: TestClient, path: str = "/ui/logout") -> str:
    """The session's CSRF token, read from a page with a form (the sign-out page has one)."""
    return form_token(c.get(path).text)
