"""Finding 4 of the security review: another web page must not act through the dashboard.

The attack: a page on any site (or on another port of the same host, which SameSite cookies do
not tell apart) submits the dashboard's forms through the signed-in user's browser. In local
`modelyard ui` mode the OS user is an admin, so it approved a version and rolled back an
endpoint. What must hold instead: a synchronizer CSRF token bound to a server-side session on
every form, same-origin checks (`Sec-Fetch-Site`, `Origin`), form bodies only, local mode
entered only through the per-launch URL it prints, a session cookie holding a random id (not
the API token; HttpOnly, SameSite=Strict, Secure under TLS), a sign-out that ends the session
for every replica, and CSP / X-Frame-Options / nosniff on every `/ui` response.

The in-process tests here check each rule; the browser tests (marked slow) play the attacker
for real: a hostile page served from a second HTTP server auto-submits the forms.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from modelyard.registry.registry import Registry
from modelyard.security import tokens
from modelyard.web.ui_auth import COOKIE
from tests.support import ui

ACTIONS = (  # (path, form fields) of the two actions the red team forged
    ("/ui/models/wine@3/approve", {"comment": "looks fine"}),
    ("/ui/endpoints/wine/rollback", {"reason": "forged"}),
)


def _build(reg: Registry) -> None:
    """wine@1 then wine@2 in production (so a rollback has somewhere to go), wine@3 validated
    (so an approval would move it); all authored by alice."""
    from sklearn.datasets import load_wine
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_wine(return_X_y=True, as_frame=True)
    ds = reg.add_dataset(X.assign(target=y), name="wine")
    for depth in (1, 2, 3):
        with reg.start_run(model="wine", params={"max_depth": depth}, seed=0) as run:
            run.use_dataset(ds)
            mv = run.log_model(
                DecisionTreeClassifier(max_depth=depth).fit(X, y), sample_input=X.head()
            )
        reg.transition(mv, "validated", reason="gates passed")
        if depth < 3:
            reg.transition(mv, "approved", reason="reviewed")
            reg.deploy(mv, "wine", reason=f"release {depth}")


def snapshot(reg: Registry) -> tuple[Any, ...]:
    """What a forged action would change: version states, routes, the audit log's length."""
    states = tuple((v.ref, v.state) for v in reg.model_versions())
    routes = tuple((r.model_version_id, r.role, r.weight) for r in reg.store.routes.all("wine"))
    return states, routes, len(reg.store.chain.entries())


@pytest.fixture
def site(local_registry: Registry) -> Registry:
    _build(local_registry)
    return local_registry


def _local(reg: Registry, **kw: str) -> TestClient:
    return ui.client(reg, local=True, user="bob", **kw)


# ---- CSRF token, origin and body checks --------------------------------------------------
def test_a_form_without_or_with_a_wrong_csrf_token_changes_nothing(site: Registry) -> None:
    before = snapshot(site)
    with _local(site) as client, _local(site) as other:
        stolen = ui.csrf(other)  # a valid token, but of another session
        for path, fields in ACTIONS:
            for token in (None, "", "forged", stolen):
                data = fields if token is None else {**fields, "csrf": token}
                r = client.post(path, data=data, follow_redirects=False)
                assert r.status_code == 403, (path, token, r.status_code)
                assert "CSRF token is missing or wrong" in r.text
        assert snapshot(site) == before
        ok = client.post(
            ACTIONS[0][0], data={**ACTIONS[0][1], "csrf": ui.csrf(client)}, follow_redirects=False
        )
        assert ok.status_code == 303, "the dashboard's own form still works"
    assert site.model_version("wine@3").state == "approved"


@pytest.mark.parametrize(
    "headers",
    [
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},  # another port of the same host
        {"origin": "http://127.0.0.1:9999"},
        {"origin": "https://testserver"},  # scheme differs
        {"origin": "null"},
        {"origin": "http://evil.example", "sec-fetch-site": "cross-site"},
    ],
)
def test_a_post_from_another_origin_is_refused_even_with_a_valid_token(
    site: Registry, headers: dict[str, str]
) -> None:
    before = snapshot(site)
    with _local(site) as client:
        csrf = ui.csrf(client)
        for path, fields in ACTIONS:
            r = client.post(path, data={**fields, "csrf": csrf}, headers=headers)
            assert r.status_code == 403 and "refused a" in r.text, (path, r.status_code)
        r = client.post("/ui/logout", data={"csrf": csrf}, headers=headers)
        assert r.status_code == 403
    assert snapshot(site) == before


def test_same_origin_browser_headers_are_accepted(site: Registry) -> None:
    with _local(site) as client:
        r = client.post(
            ACTIONS[1][0],
            data={**ACTIONS[1][1], "csrf": ui.csrf(client)},
            headers={"origin": "http://testserver", "sec-fetch-site": "same-origin"},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
    assert "forged" in site.store.chain.entries(target_prefix="endpoint:wine")[-1].reason


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/json", "multipart/form-data; boundary=x", None],
)
def test_bodies_that_are_not_urlencoded_forms_are_refused(
    site: Registry, content_type: str | None
) -> None:
    """`<form enctype="text/plain">` and `fetch(..., {mode: "no-cors"})` need no CORS
    preflight: such bodies are refused before they are read."""
    before = snapshot(site)
    with _local(site) as client:
        body = f"comment=x&reason=forged&csrf={ui.csrf(client)}"
        headers = {"content-type": content_type} if content_type else {}
        for path, _ in ACTIONS:
            r = client.post(path, content=body.encode(), headers=headers)
            assert r.status_code == 415 and "application/x-www-form-urlencoded" in r.text
    assert snapshot(site) == before


# ---- local mode: the per-launch URL ------------------------------------------------------
def test_local_mode_opens_only_through_the_launch_url(site: Registry) -> None:
    with TestClient(ui.app(site, local=True, user="bob")) as client:
        for path in ("/ui/", "/ui/models/wine@3", "/ui/login"):
            r = client.get(path, follow_redirects=False)
            assert r.status_code == 401 and "modelyard ui" in r.text and "wine@3" not in r.text
        wrong = client.get("/ui/?token=guess", follow_redirects=False)
        assert wrong.status_code == 401 and COOKIE not in wrong.headers.get("set-cookie", "")
        r = client.post(ACTIONS[0][0], data=ACTIONS[0][1], follow_redirects=False)
        assert r.status_code == 401
        entered = client.get(f"/ui/alerts?state=all&token={ui.LAUNCH}", follow_redirects=False)
        assert entered.status_code == 303
        assert entered.headers["location"] == "/ui/alerts?state=all", "the secret leaves the URL"
        assert ui.LAUNCH not in entered.headers["set-cookie"]
        assert client.get("/ui/").status_code == 200
    assert site.model_version("wine@3").state == "validated"


def test_a_session_of_another_launch_is_refused(site: Registry) -> None:
    with _local(site) as first:
        cookie = first.cookies[COOKIE]
    with TestClient(ui.app(site, local=True, user="bob", launch="the-next-launch")) as again:
        again.cookies.set(COOKIE, cookie)
        assert again.get("/ui/", follow_redirects=False).status_code == 401


# ---- sessions: cookie, sign-out, replicas --------------------------------------------------
def test_the_cookie_holds_a_random_session_id_not_the_api_token(site: Registry) -> None:
    secret = tokens.create(site.store, "viewer-1", "viewer", "admin").secret
    for scheme in ("http", "https"):
        with ui.client(site, local=False, base_url=f"{scheme}://testserver") as client:
            csrf = ui.form_token(client.get("/ui/login").text)
            r = client.post(
                "/ui/login", data={"token": secret, "csrf": csrf}, follow_redirects=False
            )
            cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith(COOKIE))
            value = cookie.split(";")[0].split("=", 1)[1]
            assert secret not in cookie and secret.split("_")[-1] not in cookie
            assert len(value) >= 40, "256 random bits"
            flags = {f.strip().lower() for f in cookie.split(";")[1:]}
            assert {"httponly", "samesite=strict", "path=/ui"} <= flags
            assert ("secure" in flags) == (scheme == "https"), scheme


def test_sign_in_needs_the_forms_own_csrf_token(site: Registry) -> None:
    secret = tokens.create(site.store, "viewer-1", "viewer", "admin").secret
    with ui.client(site, local=False) as client:
        r = client.post("/ui/login", data={"token": secret}, follow_redirects=False)
        assert r.status_code == 403 and COOKIE not in r.headers.get("set-cookie", "")
        r = client.post(
            "/ui/login",
            data={"token": secret, "csrf": ui.form_token(client.get("/ui/login").text)},
            headers={"origin": "http://127.0.0.1:9999"},
        )
        assert r.status_code == 403 and "refused a request from origin" in r.text


def test_sign_out_ends_the_session_on_every_replica(site: Registry) -> None:
    secret = tokens.create(site.store, "admin-1", "admin", "admin").secret
    with ui.client(site, local=False) as one, TestClient(ui.app(site, local=False)) as two:
        ui.sign_in(one, secret)
        two.cookies.set(COOKIE, one.cookies[COOKIE])
        assert "admin-1 · admin" in two.get("/ui/").text, "the other replica knows the session"
        page = one.get("/ui/")
        assert 'href="/ui/logout"' in page.text
        bye = one.post("/ui/logout", data={"csrf": ui.csrf(one)}, follow_redirects=False)
        assert bye.status_code == 303 and bye.headers["location"] == "/ui/login"
        assert (
            f'{COOKIE}=""' in bye.headers["set-cookie"] or "Max-Age=0" in bye.headers["set-cookie"]
        )
        for client in (one, two):
            client.cookies.set(COOKIE, two.cookies[COOKIE])
            r = client.get("/ui/", follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"] == "/ui/login"


def test_sessions_live_in_the_store_hashed_on_each_backend(store_url: str) -> None:
    """What every replica reads: on SQLite and PostgreSQL alike, a session resolves from its
    cookie value only, ends when signed out or expired, and the store never holds the id."""
    from sqlalchemy import select

    from modelyard.security import sessions
    from modelyard.store import schema
    from modelyard.store.metadata import MetadataStore

    store = MetadataStore(store_url).open()
    try:
        one = sessions.start(store, sessions.token_binding("abc"), "alice")
        two = sessions.start(store, sessions.token_binding("abc"), "alice")
        old = sessions.start(store, sessions.launch_binding("x"), "bob", hours=-1)
        found = sessions.resolve(store, one.secret)
        assert found is not None and found.csrf == one.csrf and found.token_id == "abc"
        tampered = one.secret[:-1] + ("B" if one.secret.endswith("A") else "A")
        assert sessions.resolve(store, tampered) is None
        assert sessions.resolve(store, old.secret) is None, "expired"
        with store.tx() as conn:
            rows = conn.execute(select(schema.ui_sessions)).mappings().all()
        assert all(one.secret not in str(dict(r).values()) for r in rows)
        assert sessions.end(store, one.secret) and sessions.resolve(store, one.secret) is None
        assert sessions.resolve(store, two.secret) is not None, "only that session ended"
    finally:
        store.close()


def test_revoking_the_token_ends_its_sessions(site: Registry) -> None:
    secret = tokens.create(site.store, "admin-1", "admin", "admin").secret
    with ui.client(site, local=False) as client:
        ui.sign_in(client, secret)
        assert client.get("/ui/", follow_redirects=False).status_code == 200
        tokens.revoke(site.store, "admin-1", "admin")
        r = client.get("/ui/", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/ui/login"


def test_local_sign_out_needs_the_launch_url_again(site: Registry) -> None:
    with _local(site) as client:
        bye = client.post("/ui/logout", data={"csrf": ui.csrf(client)})
        assert bye.status_code == 200 and "Signed out" in bye.text
        assert client.get("/ui/", follow_redirects=False).status_code == 401


# ---- headers on every /ui response ---------------------------------------------------------
def test_every_ui_response_carries_the_security_headers(site: Registry) -> None:
    with _local(site) as local, ui.client(site, local=False) as anonymous:
        responses = [
            local.get("/ui/"),
            local.get("/ui/models/wine@3"),
            local.get("/ui/models/nope@1"),  # an error page
            local.get("/ui/endpoints/wine"),
            local.get("/ui/static/style.css"),
            local.get("/ui/no-such-page"),
            local.post("/ui/models/wine@3/approve", content=b"x", headers={"content-type": "x"}),
            anonymous.get("/ui/", follow_redirects=False),  # a redirect to sign in
            anonymous.get("/ui/login"),
        ]
    for r in responses:
        where = f"{r.request.method} {r.request.url.path} -> {r.status_code}"
        csp = r.headers.get("content-security-policy", "")
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, where
        assert "unsafe-inline" not in csp and "script-src" not in csp, where
        assert r.headers.get("x-frame-options") == "DENY", where
        assert r.headers.get("x-content-type-options") == "nosniff", where


def test_stored_reports_are_served_in_a_script_less_sandbox(site: Registry) -> None:
    """A stored report keeps its inline styles but can run nothing, even if it held a script."""
    html = site.artifacts.put(b"<style>p{color:red}</style><script>alert(1)</script><p>r</p>")
    blob = site.artifacts.put(b"{}")
    site.store.reports.add(
        {
            "model_version_id": site.model_version("wine@3").id,
            "kind": "gate",
            "passed": True,
            "summary": "ok",
            "artifact_digest": blob.digest,
            "artifact_digest_size": blob.size,
            "html_digest": html.digest,
            "html_digest_size": html.size,
            "created_by": "alice",
        }
    )
    with _local(site) as client:
        r = client.get(f"/ui/artifacts/{html.digest}")
    assert r.status_code == 200 and "<style>" in r.text
    policy = [p.strip() for p in r.headers["content-security-policy"].split(";")]
    assert "sandbox" in policy and "default-src 'none'" in policy
    assert "style-src 'unsafe-inline'" in policy and not any("script" in p for p in policy)
    assert r.headers["x-frame-options"] == "DENY"


def test_pages_need_no_inline_script_or_style(site: Registry) -> None:
    """The CSP refuses inline script and style: the pages must not rely on either."""
    with _local(site) as client:
        for path in ("/ui/", "/ui/models/wine@3", "/ui/endpoints/wine", "/ui/audit"):
            html = client.get(path).text
            assert "<script" not in html and "<style" not in html, path
            assert not re.search(r"\sstyle=|\son[a-z]+=", html), path


# ---- the attacking page, in a real browser ---------------------------------------------------
HOSTILE = """<!doctype html><html><body><h1>Cute cats</h1>
<form id="f" method="post" action="{action}" enctype="{enctype}">{fields}</form>
<script>document.getElementById("f").submit();</script></body></html>"""
SILENT = """<!doctype html><html><body><h1>More cats</h1><script>
for (const [url, body] of {posts}) {{
  fetch(url, {{method: "POST", mode: "no-cors", credentials: "include",
    headers: {{"content-type": "application/x-www-form-urlencoded"}}, body}});
  fetch(url, {{method: "POST", mode: "no-cors", credentials: "include",
    headers: {{"content-type": "text/plain"}}, body}});
}}
setTimeout(() => document.title = "sent", 1500);
</script></body></html>"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from tests.support.browser import chromium

    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("csrf") / "p"
    root.mkdir()
    (root / "modelyard.yaml").write_text(
        "identity: os\nmodels:\n  wine: {owner: team-wine, objective: grade wine, kpi: accuracy}\n"
    )
    with Registry.open(root, env={"MODELYARD_USER": "alice"}) as reg:
        _build(reg)
    return root


class Hostile:
    """A second HTTP server, the attacker's site: ``/<name>`` serves ``pages[name]``."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path.lstrip("/"), "").encode()
                self.send_response(200 if body else 404)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def hostile() -> Iterator[Hostile]:
    h = Hostile()
    yield h
    h.close()


def _attack(browser_ctx: Any, hostile: Hostile, base: str) -> list[int]:
    """Serve and open the hostile pages (from 127.0.0.1 on another port: same site as the
    dashboard, and from localhost: another site), each auto-submitting a dashboard form or
    firing invisible fetches; the statuses the dashboard answered the forged forms with."""
    from html import escape

    statuses: list[int] = []
    for host in ("127.0.0.1", "localhost"):
        for path, fields in ACTIONS:
            for enctype in ("application/x-www-form-urlencoded", "text/plain"):
                name = f"{host}-{path.replace('/', '-')}-{enctype.replace('/', '-')}"
                inputs = "".join(
                    f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
                    for k, v in {**fields, "csrf": "guessed"}.items()
                )
                hostile.pages[name] = HOSTILE.format(
                    action=f"{base}{path}", enctype=enctype, fields=inputs
                )
                page = browser_ctx.new_page()
                with page.expect_response(lambda r, p=path: r.url.endswith(p)) as answer:
                    page.goto(f"http://{host}:{hostile.port}/{name}")
                statuses.append(answer.value.status)
                page.close()
        posts = [[f"{base}{p}", "&".join(f"{k}={v}" for k, v in f.items())] for p, f in ACTIONS]
        hostile.pages[f"{host}-silent"] = SILENT.format(posts=repr(posts))
        page = browser_ctx.new_page()
        page.goto(f"http://{host}:{hostile.port}/{host}-silent")
        page.wait_for_function("document.title === 'sent'")
        page.close()
    return statuses


@pytest.mark.slow
def test_a_hostile_page_cannot_act_through_local_mode(
    browser: Any, project: Path, hostile: Hostile
) -> None:
    from tests.support.servers import served

    log = project.parent / "ui-local.log"
    env = {"MODELYARD_USER": "bob", "PYTHONUNBUFFERED": "1"}
    with served(project, log=log, env=env, command="ui", ready="/ui/static/style.css") as (
        base,
        _,
    ):
        printed = re.search(r"http://\S+/ui/\S*", log.read_text())
        assert printed, log.read_text()
        ctx = browser.new_context()
        page = ctx.new_page()
        page.goto(printed.group(0))
        assert page.url == f"{base}/ui/", "the launch secret leaves the address bar"
        assert "wine@3" in page.content(), "the user is signed in"
        with Registry.open(project, env={"MODELYARD_USER": "alice"}) as reg:
            before = snapshot(reg)
        statuses = _attack(ctx, hostile, base)
        with Registry.open(project, env={"MODELYARD_USER": "alice"}) as reg:
            assert snapshot(reg) == before, "the hostile pages changed nothing"
            assert reg.model_version("wine@3").state == "validated"
        assert statuses == [403] * 8, "each forged form refused as from another origin"
        ctx.close()
        fresh = browser.new_context()
        bare = fresh.new_page().goto(f"{base}/ui/")
        assert bare is not None and bare.status == 401, "the URL without the secret is shut"
        assert "modelyard ui" in bare.text()
        fresh.close()


@pytest.mark.slow
def test_a_hostile_page_cannot_act_through_a_signed_in_token_session(
    browser: Any, project: Path, hostile: Hostile
) -> None:
    from tests.support.browser import dashboard, sign_in

    with dashboard(project, ("admin",)) as (base, secrets):
        page, errors = sign_in(browser, base, secrets["admin"])
        with Registry.open(project, env={"MODELYARD_USER": "alice"}) as reg:
            before = snapshot(reg)
        statuses = _attack(page.context, hostile, base)
        with Registry.open(project, env={"MODELYARD_USER": "alice"}) as reg:
            assert snapshot(reg) == before, "the hostile pages changed nothing"
        # from 127.0.0.1 (the same site: the SameSite=Strict cookie travels) as from localhost
        assert statuses == [403] * 8, "each forged form refused as from another origin"
        page.goto(f"{base}/ui/models/wine@3")
        assert page.locator("#approve-form").count() == 1, "still signed in, still an admin"
        assert errors == []
        page.context.close()
