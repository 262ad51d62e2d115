"""The dashboard pages, in-process over a real store: readable without JavaScript, signed in
with the same tokens as the API."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from modelyard.registry.registry import Registry
from modelyard.security import tokens
from modelyard.web.ui_auth import COOKIE
from tests.support import ui


@pytest.fixture
def populated(local_registry: Registry) -> Registry:
    from sklearn.datasets import load_wine
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_wine(return_X_y=True, as_frame=True)
    ds = local_registry.add_dataset(X.assign(target=y), name="wine")
    with local_registry.start_run(model="wine", params={"depth": 2}) as run:
        run.use_dataset(ds)
        run.log_metrics({"accuracy": 0.9})
        mv = run.log_model(DecisionTreeClassifier(max_depth=2).fit(X, y), sample_input=X.head())
    local_registry.transition(mv, "validated", reason="gates passed")
    local_registry.transition(mv, "approved", reason="reviewed")
    local_registry.deploy(mv, "wine", reason="first release")
    return local_registry


def _client(reg: Registry, local: bool) -> TestClient:
    return ui.client(reg, local)


def test_catalog_version_endpoint_and_audit_pages_render(populated: Registry) -> None:
    with _client(populated, local=True) as client:
        cat = client.get("/ui/")
        assert cat.status_code == 200 and "wine@1" in cat.text and "ghost" in cat.text
        page = client.get("/ui/models/wine@1")
        assert page.status_code == 200
        svg = re.search(r"<svg[^>]*lineage-graph.*?</svg>", page.text, re.S)
        assert svg and "wine@1" in svg.group(0) and "run " in svg.group(0)
        assert "depth=2" in page.text and "deployed" in page.text
        ep = client.get("/ui/endpoints/wine")
        assert ep.status_code == 200 and "production" in ep.text and "first release" in ep.text
        audit = client.get("/ui/audit?action=model.transition")
        assert audit.status_code == 200 and "Chain intact" in audit.text
        assert "model.register" not in audit.text, "the filter applies"
        css = client.get("/ui/static/style.css")
        assert css.status_code == 200 and "text/css" in css.headers["content-type"]


def test_pages_link_no_external_assets(populated: Registry) -> None:
    with _client(populated, local=True) as client:
        for path in ("/ui/", "/ui/models/wine@1", "/ui/endpoints", "/ui/audit"):
            html = client.get(path).text
            assert not re.search(r"""(src|href)=["']https?://""", html), path


def test_unknown_things_are_4xx_pages(populated: Registry) -> None:
    with _client(populated, local=True) as client:
        missing = client.get("/ui/models/nope@3")
        assert missing.status_code == 404 and "no model version nope@3" in missing.text
        bad = client.get("/ui/models/wine@x")
        assert bad.status_code == 422


def test_token_mode_requires_sign_in_and_accepts_a_viewer(populated: Registry) -> None:
    viewer = tokens.create(populated.store, "v", "viewer", "admin").secret
    with _client(populated, local=False) as client:
        r = client.get("/ui/", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/ui/login"
        csrf = ui.form_token(client.get("/ui/login").text)
        bad = client.post("/ui/login", data={"token": "my_nope_nope", "csrf": csrf})
        assert bad.status_code == 401 and "unknown token" in bad.text
        csrf = ui.form_token(bad.text)
        ok = client.post("/ui/login", data={"token": viewer, "csrf": csrf}, follow_redirects=False)
        assert ok.status_code == 303 and COOKIE in ok.headers["set-cookie"]
        assert "HttpOnly" in ok.headers["set-cookie"]
        page = client.get("/ui/")
        assert page.status_code == 200 and "v · viewer" in page.text
