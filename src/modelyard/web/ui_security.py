"""What keeps the dashboard's forms from being used by another site: response headers on every
``/ui`` response, and the checks a state-changing request passes before its form is read.

A browser attaches the session cookie to any request for the dashboard's host, including a
form another page submits: ``SameSite=Strict`` does not help when that page is on another port
of the same host (ports do not make sites). So each POST must come from the dashboard's own
origin (``Sec-Fetch-Site``, else ``Origin``), be a form body (a ``text/plain`` "form" or a
``no-cors`` fetch is refused before it is read) and carry the session's CSRF token (checked by
``ui_auth.require_csrf``, which knows the session).

Hand-written, a few dozen lines: Starlette has no security-header middleware, and the CSRF
packages for it (starlette-csrf and the like) implement a double-submit cookie, which a server
on another port of the same host can overwrite; a synchronizer token needs the server-side
session, which is ours (``security.sessions``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request

from modelyard.core.errors import InvalidInput, PermissionDenied, UnsupportedMediaType

FORM = "application/x-www-form-urlencoded"

# Every page is rendered on the server with no script: scripts are refused outright, styles
# and images come only from the dashboard itself (charts are inline SVG, which this allows).
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# Stored gate and shadow reports carry their own inline <style>: allowed, in a sandbox with no
# script, no forms and no requests anywhere.
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; "
    "frame-ancestors 'none'; base-uri 'none'; sandbox"
)
HEADERS = {
    b"x-frame-options": b"DENY",
    b"x-content-type-options": b"nosniff",
    # same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` even on
    # the dashboard's own form posts, which the origin check would then refuse
    b"referrer-policy": b"same-origin",
    b"cross-origin-opener-policy": b"same-origin",
    b"cross-origin-resource-policy": b"same-origin",
}


class SecurityHeaders:
    """ASGI middleware: the headers above on every response (pages, errors, static files,
    redirects); a response that sets its own ``Content-Security-Policy`` keeps it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                extra = dict(HEADERS)
                extra[b"content-security-policy"] = PAGE_CSP.encode()
                extra[b"cache-control"] = b"no-store"
                headers += [(k, v) for k, v in extra.items() if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def check_same_origin(request: Request) -> None:
    """Refuse (403) a request a browser says came from another origin. Requests without these
    headers (the CLI, scripts, tests) carry no browser's cookies unless given them."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        raise PermissionDenied(
            f"refused a {fetch_site} request: dashboard actions are taken from its own pages",
            hint="open the dashboard and use its form",
        )
    origin = request.headers.get("origin")
    if origin is not None and origin != own_origin(request):
        raise PermissionDenied(
            f"refused a request from origin {origin!r}: expected {own_origin(request)!r}",
            hint="open the dashboard and use its form (behind a TLS proxy, pass its "
            "X-Forwarded-Proto so the dashboard knows its own https origin)",
        )


async def read_form(request: Request) -> dict[str, str]:
    """The fields of a same-origin form post; 415 for any body that is not a urlencoded form
    (``text/plain``, JSON, multipart), before a byte of it is read. (How large a body may be
    is the app's body limit's business, not this parser's.)"""
    check_same_origin(request)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != FORM:
        raise UnsupportedMediaType(
            f"a dashboard form must be sent as {FORM}, got {media or 'no content type'!r}",
            hint="submit the dashboard's own form",
        )
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("a dashboard form must be UTF-8") from None
    return {k: v[0] for k, v in parse_qs(text).items()}
