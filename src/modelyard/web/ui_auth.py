"""Who is using the dashboard: signing in, the session behind each request, signing out.

Signing in — an API token on ``/login``, or in local mode (``modelyard ui``) the per-launch
secret in the URL it prints, as notebook servers do — starts a server-side session
(``security.sessions``): the cookie holds a random session id, never the API token. Scripts
may send ``Authorization: Bearer`` instead (no cookie, so no session and no CSRF to fear).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from modelyard.core.errors import ModelyardError, PermissionDenied, Unauthenticated
from modelyard.registry import access
from modelyard.registry.registry import Registry
from modelyard.security import sessions
from modelyard.security.access import Identity
from modelyard.security.sessions import Session
from modelyard.web.ui_security import read_form

COOKIE = "modelyard_session"  # a random session id (security.sessions), never a token
LOGIN_COOKIE = "modelyard_login"  # the sign-in form's CSRF token (double submit)
Who = tuple[Identity, Session | None]  # who acts, and the session they act through (if any)
Page = Callable[..., HTMLResponse]


def require_csrf(session: Session | None, form: dict[str, str]) -> None:
    """A form posted through a session carries that session's token (bearer calls have none)."""
    if session is not None and not session.csrf_ok(form.get("csrf")):
        raise PermissionDenied(
            "the form's CSRF token is missing or wrong",
            hint="reload the page and submit its form again",
        )


class Auth:
    """The dashboard's sign-in, bound to one app: ``local_identity`` set means local mode,
    entered through ``?token=<launch_token>``; else API tokens."""

    def __init__(
        self,
        reg: Registry,
        root: str,
        local_identity: Identity | None,
        launch_token: str | None,
        page: Page,
        error_page: Page,
    ) -> None:
        if local_identity is not None and not launch_token:
            raise ValueError("local mode needs a launch token: the secret in the URL it prints")
        self.reg = reg
        self.root = root
        self.local = local_identity
        self.launch_token = launch_token or ""
        self.launch = sessions.launch_binding(launch_token) if launch_token else None
        self.page = page
        self.error_page = error_page
        self.path = root or "/"

    # ---- every request -------------------------------------------------------------------
    def identify(self, request: Request) -> Who:
        """Who is asking: a bearer token, or the session the cookie names, checked against
        what it is bound to on every request (a revoked token ends its sessions)."""
        reg = self.reg
        header = request.headers.get("authorization", "")
        if self.local is None and header.lower().startswith("bearer "):
            return access.authenticate(reg, header[7:].strip()), None
        session = access.resolve_session(reg, request.cookies.get(COOKIE))
        if session is None:
            raise Unauthenticated("sign in to use the dashboard")
        if self.local is not None:
            if session.binding != self.launch:
                raise Unauthenticated("this session belongs to another launch of the dashboard")
            return self.local, session
        if session.token_id is None:
            raise Unauthenticated("this session was not started with an API token")
        try:
            return access.token_identity(reg, session.token_id), session
        except Unauthenticated:
            access.end_session(reg, session.secret)  # its token was revoked or expired
            raise

    def entering(self, request: Request) -> bool:
        """A local-mode visit through the launch URL (handled by ``enter``)."""
        return self.local is not None and "token" in request.query_params

    def signed_out(self, request: Request) -> Response:
        if self.local is not None:
            return self.page(request, "launch.html", None, status=401)
        return RedirectResponse(f"{self.root}/login", status_code=303)

    def _cookie(self, request: Request, resp: Response, name: str, value: str) -> None:
        resp.set_cookie(
            name,
            value,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path=self.path,
        )

    # ---- local mode: the launch URL ------------------------------------------------------
    def enter(self, request: Request) -> Response:
        """The launch URL's ``?token=`` starts a session, then the same page without the
        secret (so it stays out of history, bookmarks and screenshots)."""
        assert self.local is not None and self.launch is not None
        presented = request.query_params.get("token", "")
        if not hmac.compare_digest(presented.encode(), self.launch_token.encode()):
            return self.page(request, "launch.html", None, status=401, wrong=True)
        session = access.start_session(self.reg, self.launch, self.local.name)
        rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
        clean = request.url.path + (f"?{urlencode(rest)}" if rest else "")
        resp = RedirectResponse(clean, status_code=303)
        self._cookie(request, resp, COOKIE, session.secret)
        return resp

    # ---- token mode: the sign-in form ----------------------------------------------------
    def login_form(self, request: Request, status: int = 200, error: str | None = None) -> Response:
        """The sign-in form, with a fresh CSRF token mirrored in a cookie (no session yet)."""
        nonce = secrets.token_urlsafe(32)
        resp = self.page(request, "login.html", None, status=status, csrf=nonce, error=error)
        self._cookie(request, resp, LOGIN_COOKIE, nonce)
        return resp

    async def login(self, request: Request) -> Response:
        if self.local is not None:  # no tokens here: the launch URL signs in
            if request.method == "GET" and self.entering(request):
                return await run_in_threadpool(self.enter, request)
            return self.page(request, "launch.html", None, status=401)
        if request.method == "GET":
            return self.login_form(request)
        try:
            form = await read_form(request)
        except ModelyardError as exc:
            return self.error_page(request, None, exc)
        expected = request.cookies.get(LOGIN_COOKIE) or ""
        if not expected or not hmac.compare_digest(expected, form.get("csrf", "")):
            return self.login_form(request, 403, "the sign-in form expired: sign in again")
        token = form.get("token", "").strip()
        try:
            who = await run_in_threadpool(access.authenticate, self.reg, token)
        except PermissionDenied as exc:
            return self.login_form(request, 401, exc.message)
        assert who.token_id is not None
        binding = sessions.token_binding(who.token_id)
        session = await run_in_threadpool(access.start_session, self.reg, binding, who.name)
        resp = RedirectResponse(f"{self.root}/", status_code=303)
        self._cookie(request, resp, COOKIE, session.secret)
        resp.delete_cookie(LOGIN_COOKIE, path=self.path)
        return resp

    # ---- signing out ---------------------------------------------------------------------
    async def logout(self, request: Request) -> Response:
        """GET asks (the header's link); POST with the session's CSRF token ends the session
        in the store — for every replica — and clears the cookie."""
        try:
            who, session = await run_in_threadpool(self.identify, request)
        except Unauthenticated:
            return self.signed_out(request)
        if request.method == "GET":
            return self.page(request, "logout.html", who, session=session)
        try:
            require_csrf(session, await read_form(request))
        except ModelyardError as exc:
            return self.error_page(request, who, exc, session)
        if session is not None:
            await run_in_threadpool(access.end_session, self.reg, session.secret)
        resp: Response = (
            self.page(request, "launch.html", None, bye=True)
            if self.local is not None
            else RedirectResponse(f"{self.root}/login", status_code=303)
        )
        resp.delete_cookie(COOKIE, path=self.path)
        return resp
