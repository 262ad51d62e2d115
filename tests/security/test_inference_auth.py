"""Finding 3 of the security review: inference, /metrics and model status behind API tokens.

A real `modelyard serve` on a free port, with `serving: {auth: token}` in its project file and
two endpoints (``bc`` serves; ``broken`` has a corrupt artifact, so its status holds a failure
reason). Every inference, status and metrics route is called without a token, with a wrong one,
with a token whose role lacks the permission and with a good one; health routes stay open; the
server warns at start-up when it binds a non-loopback address without auth.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from modelyard.core.errors import ConfigError, Unauthenticated
from modelyard.core.project import parse_project
from modelyard.core.serving_config import ServingConfig
from modelyard.registry.registry import Registry
from modelyard.security import tokens
from modelyard.security.token_snapshot import TokenSnapshot
from modelyard.serving.auth import exposure_warnings
from modelyard.serving.openapi import ROUTES, document
from modelyard.store.governance import GovernanceStore
from tests.support import servers

pytestmark = pytest.mark.slow
ENV = {"MODELYARD_USER": "tester"}
REFRESH_S = 0.2


@dataclass
class Served:
    base: str
    root: Path
    log: Path
    row: list[float]
    columns: list[str]
    tokens: dict[str, str]  # "predict" (data-scientist), "viewer" (no predict), "wrong"

    def headers(self, who: str | None) -> dict[str, str]:
        return {} if who is None else {"Authorization": f"Bearer {self.tokens[who]}"}


def _project(root: Path, serving: str) -> tuple[list[float], list[str]]:
    """Endpoints ``bc`` (serves) and ``broken`` (its artifact is corrupt on disk)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    with Registry.init(root, env=ENV, identity="os") as reg:
        for name, c in (("bc", 1.0), ("broken", 0.5)):
            model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=1000))
            mv = reg.register_model(model.fit(X, y), name, X.head())
            reg.transition(mv, "validated", reason="gates")
            reg.transition(mv, "approved", reason="review", actor="reviewer")
            reg.deploy(mv.ref, name, reason="test")
            if name == "broken":
                digest = mv.artifact_digest.split(":")[-1]
                (found,) = [
                    p for p in (root / ".modelyard").rglob("*") if p.is_file() and digest in str(p)
                ]
                found.write_bytes(b"not a model" + found.read_bytes()[11:])
    with (root / "modelyard.yaml").open("a") as f:
        f.write(serving)
    return [float(v) for v in X.iloc[0]], [str(c) for c in X.columns]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("inference-auth")
    root = tmp / "proj"
    row, columns = _project(root, "serving:\n  auth: token\n")
    with Registry.open(root, ENV) as reg:
        secrets = {
            "predict": tokens.create(reg.store, "scorer", "data-scientist", "admin").secret,
            "viewer": tokens.create(reg.store, "watcher", "viewer", "admin").secret,
        }
    secrets["wrong"] = secrets["predict"][:-4] + "AAAA"  # right id, wrong secret
    log = tmp / "server.log"
    args = ("--host", "0.0.0.0", "--refresh", str(REFRESH_S))
    with servers.served(root, *args, log=log, env=ENV) as (base, _):
        yield Served(base, root, log, row, columns, secrets)


def _v1(served: Served) -> dict[str, Any]:
    return {"instances": [served.row]}


def _v2(served: Served) -> dict[str, Any]:
    return {
        "inputs": [{"name": "input__0", "shape": [1, 30], "datatype": "FP64", "data": served.row}]
    }


INFERENCE = {
    "/v1/models/bc:predict": _v1,
    "/v1/models/bc:explain": _v1,
    "/v2/models/bc/infer": _v2,
    "/v2/models/bc/versions/1/infer": _v2,
}


def test_every_inference_route_of_the_server_is_checked_here() -> None:
    posts = {p for method, p, _, _ in ROUTES if method == "POST"}
    assert {p.replace("bc", "{name}").replace("/1/", "/{version}/") for p in INFERENCE} == posts
    described = document()["paths"]
    for path in posts:  # and the OpenAPI document tells clients about the refusals
        assert {"401", "403"} <= set(described[path]["post"]["responses"])


def _refused(r: httpx.Response, status: int, words: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == "permission_denied" and words in body["error"], body
    if status == 401:
        assert r.headers["www-authenticate"].startswith("Bearer realm=")


@pytest.mark.parametrize("path", sorted(INFERENCE))
def test_inference_needs_a_token_whose_role_may_predict(served: Served, path: str) -> None:
    body = INFERENCE[path](served)
    with httpx.Client(base_url=served.base, timeout=30) as c:
        _refused(c.post(path, json=body), 401, "missing credentials")
        _refused(c.post(path, json=body, headers=served.headers("wrong")), 401, "unknown token")
        _refused(
            c.post(path, json=body, headers={"Authorization": "Basic dXNlcjpwdw=="}),
            401,
            "Bearer",
        )
        viewer = c.post(path, json=body, headers=served.headers("viewer"))
        _refused(viewer, 403, "needs the 'predict' permission")
        ok = c.post(path, json=body, headers=served.headers("predict"))
        assert ok.status_code == 200, ok.text
        assert ok.headers["x-model-version"] == "bc@1"


def test_an_unknown_endpoint_is_not_revealed_before_the_token_is_checked(served: Served) -> None:
    with httpx.Client(base_url=served.base, timeout=30) as c:
        r = c.post("/v1/models/nope:predict", json=_v1(served))
        assert r.status_code == 401 and "bc" not in r.text


def test_metrics_need_a_token_with_read(served: Served) -> None:
    with httpx.Client(base_url=served.base, timeout=30) as c:
        _refused(c.get("/metrics"), 401, "missing credentials")
        _refused(c.get("/metrics", headers=served.headers("wrong")), 401, "unknown token")
        for who in ("viewer", "predict"):  # every role holds 'read'
            r = c.get("/metrics", headers=served.headers(who))
            assert r.status_code == 200 and "modelyard_requests_total" in r.text
        assert 'modelyard_auth_refused_total{status="401"}' in r.text


def test_status_routes_answer_anonymous_callers_with_name_and_readiness_only(
    served: Served,
) -> None:
    with httpx.Client(base_url=served.base, timeout=30) as c:
        v1 = c.get("/v1/models/broken")
        assert v1.status_code == 200 and v1.json() == {"name": "broken", "ready": False}
        v2 = c.get("/v2/models/bc")
        assert v2.status_code == 200 and v2.json() == {"name": "bc", "ready": True}
        ready = c.get("/v2/models/broken/ready")
        assert ready.status_code == 503 and ready.json() == {"name": "broken", "ready": False}
        version = c.get("/v2/models/broken/versions/1")
        assert version.status_code == 503 and "failed" not in version.text
        unknown = c.get("/v1/models/nope")
        assert unknown.status_code == 404 and "bc" not in unknown.text
        assert "endpoints" not in c.get("/").json()
        _refused(c.get("/v1/models"), 401, "missing credentials")
        for path in ("/v1/models/broken", "/v2/models/bc", "/v2/models/bc/ready", "/"):
            _refused(c.get(path, headers=served.headers("wrong")), 401, "unknown token")


@pytest.mark.parametrize("who", ["viewer", "predict"])
def test_status_routes_show_details_to_a_token_with_read(served: Served, who: str) -> None:
    h = served.headers(who)
    with httpx.Client(base_url=served.base, timeout=30) as c:
        v1 = c.get("/v1/models/broken", headers=h).json()
        assert "failed to load" in v1["reason"] and "1" in v1["failed_versions"]
        assert v1["routes"][0]["model_version"] == "broken@1"
        meta = c.get("/v2/models/bc", headers=h).json()
        assert meta["parameters"]["model_version"] == "bc@1"
        assert [i["name"] for i in meta["inputs"]] == served.columns
        ready = c.get("/v2/models/broken/ready", headers=h)
        assert ready.status_code == 503 and "failed to load" in ready.json()["error"]
        assert c.get("/v1/models", headers=h).json() == {"models": ["bc", "broken"]}
        assert c.get("/", headers=h).json()["endpoints"] == ["bc", "broken"]
        unknown = c.get("/v1/models/nope", headers=h)
        assert unknown.status_code == 404 and "bc, broken" in unknown.json()["hint"]


def test_health_routes_and_the_openapi_document_stay_open(served: Served) -> None:
    with httpx.Client(base_url=served.base, timeout=30) as c:
        for path in ("/v2/health/live", "/v2/health/ready", "/healthz", "/openapi.json", "/v2"):
            assert c.get(path).status_code == 200, path


def test_tritonclient_infers_with_a_token_in_its_headers(served: Served) -> None:
    tc = pytest.importorskip("tritonclient.http")
    from tritonclient.utils import InferenceServerException

    client = tc.InferenceServerClient(url=served.base.removeprefix("http://"))
    X = np.asarray([served.row], dtype=np.float32)
    inp = tc.InferInput("input__0", list(X.shape), "FP32")
    inp.set_data_from_numpy(X)
    with pytest.raises(InferenceServerException, match="missing credentials"):
        client.infer("bc", [inp])
    h = served.headers("predict")
    assert client.is_model_ready("bc", headers=h)
    assert client.get_model_metadata("bc", headers=h)["inputs"][0]["name"] == "mean radius"
    result = client.infer("bc", [inp], headers=h)
    assert result.as_numpy("predict_proba").shape == (1, 2)


def test_a_revoked_token_is_refused_and_a_new_one_accepted_after_a_refresh(
    served: Served,
) -> None:
    with Registry.open(served.root, ENV) as reg:
        fresh = tokens.create(reg.store, "short-lived", "deployer", "admin").secret
    h = {"Authorization": f"Bearer {fresh}"}
    path = "/v1/models/bc:predict"
    with httpx.Client(base_url=served.base, timeout=30) as c:
        _until(lambda: c.post(path, json=_v1(served), headers=h).status_code == 200)
        with Registry.open(served.root, ENV) as reg:
            tokens.revoke(reg.store, "short-lived", "admin")
        _until(lambda: c.post(path, json=_v1(served), headers=h).status_code == 401)
        _refused(c.post(path, json=_v1(served), headers=h), 401, "was revoked")


def _until(ok: Any, timeout_s: float = 20 * REFRESH_S + 5) -> None:
    deadline = time.monotonic() + timeout_s
    while not ok():
        assert time.monotonic() < deadline, "not applied within the refresh window"
        time.sleep(REFRESH_S / 2)


def test_with_token_auth_no_exposure_warning_is_printed(served: Served) -> None:
    assert "serving.auth: none" not in served.log.read_text()


def test_an_open_server_on_a_non_loopback_address_warns_at_start_up(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    _project(root, "")  # serving.auth: none, the default
    log = tmp_path / "server.log"
    with servers.served(root, "--host", "0.0.0.0", log=log, env=ENV) as (base, _):
        with httpx.Client(base_url=base, timeout=30) as c:  # open, as configured
            assert c.post("/v1/models/bc:predict", json={"instances": [[0.0] * 30]}).is_success
            assert "failed to load" in c.get("/v1/models/broken").json()["reason"]
            assert c.get("/metrics").status_code == 200
        port = base.rsplit(":", 1)[1]
    warnings = [line for line in log.read_text().splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, log.read_text()
    assert f"0.0.0.0:{port}" in warnings[0] and "serving.auth: none" in warnings[0]
    assert "/metrics" in warnings[0]


@pytest.mark.parametrize(
    ("host", "config", "warned"),
    [
        ("127.0.0.1", ServingConfig(), False),
        ("localhost", ServingConfig(), False),
        ("::1", ServingConfig(), False),
        ("0.0.0.0", ServingConfig(), True),
        ("::", ServingConfig(), True),
        ("10.1.2.3", ServingConfig(), True),
        ("serving.internal", ServingConfig(), True),
        ("0.0.0.0", ServingConfig(auth="token"), False),
        ("0.0.0.0", ServingConfig(auth="token", metrics_auth="none"), True),
        ("0.0.0.0", ServingConfig(auth="none", metrics_auth="token"), True),
    ],
)
def test_exposure_is_judged_by_address_and_setting(
    host: str, config: ServingConfig, warned: bool
) -> None:
    assert bool(exposure_warnings(config, host, 8080)) is warned


def test_the_setting_is_validated_at_the_project_file_boundary() -> None:
    assert parse_project("serving: {auth: token}").serving.metrics_open is False
    assert parse_project("serving: {auth: token, metrics_auth: none}").serving.metrics_open
    with pytest.raises(ConfigError, match=r"modelyard.yaml:1: serving.auth: Input should be"):
        parse_project("serving: {auth: tokens}")
    with pytest.raises(ConfigError, match="did you mean 'metrics_auth'"):
        parse_project("serving: {metric_auth: none}")


def test_the_hot_path_verifies_tokens_from_memory(tmp_path: Path) -> None:
    """One store read per refresh, none per request: the snapshot answers 1,000 checks."""
    with Registry.init(tmp_path / "p", env=ENV, identity="os") as reg:
        good = tokens.create(reg.store, "scorer", "data-scientist", "admin").secret
        reads: list[int] = []

        def read() -> list[Any]:
            reads.append(1)
            return GovernanceStore(reg.store).tokens()

        snapshot = TokenSnapshot(read)
        with pytest.raises(Unauthenticated, match="not loaded"):
            snapshot.authenticate(good)
        snapshot.refresh()
        for _ in range(1000):
            assert snapshot.authenticate(good).name == "scorer"
        with pytest.raises(Unauthenticated, match="unknown token"):
            snapshot.authenticate(good[:-1] + "x")
        assert len(reads) == 1
        brief = tokens.create(reg.store, "brief", "viewer", "admin", expires_days=0.3 / 86400)
        tokens.revoke(reg.store, "scorer", "admin")
        snapshot.refresh()
        with pytest.raises(Unauthenticated, match="'scorer' was revoked"):
            snapshot.authenticate(good)
        assert snapshot.authenticate(brief.secret).name == "brief"
        time.sleep(0.4)  # expiry is judged per request against the clock, not at refresh
        with pytest.raises(Unauthenticated, match="'brief' expired"):
            snapshot.authenticate(brief.secret)
        assert len(reads) == 2


@pytest.mark.parametrize(("auth", "noted"), [("none", True), ("token", False)])
def test_generated_manifests_and_image_say_when_they_bind_0000_open(
    tmp_path: Path, auth: str, noted: bool
) -> None:
    import subprocess

    import yaml

    (tmp_path / "modelyard.yaml").write_text(f"name: credit\nserving: {{auth: {auth}}}\n")
    run = [servers.MODELYARD, "k8s", "bc", "--kserve", "-p", str(tmp_path)]
    out = subprocess.run(run, capture_output=True, text=True, check=True)
    docs = {d["kind"]: d for d in yaml.safe_load_all(out.stdout)}
    for kind in ("Deployment", "InferenceService"):
        assert docs[kind]["metadata"]["annotations"]["modelyard.io/inference-auth"] == auth
    assert "0.0.0.0" in docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert ("binds 0.0.0.0 with serving.auth: none" in out.stderr) is noted, out.stderr
    build = [servers.MODELYARD, "build", "bc", "-o", str(tmp_path / "ctx"), "-p", str(tmp_path)]
    built = subprocess.run(build, capture_output=True, text=True, check=True)
    dockerfile = (tmp_path / "ctx" / "Dockerfile").read_text()
    assert ("# WARNING: the generated server" in dockerfile) is noted
    assert ("serving.auth: none" in built.stderr) is noted


def test_the_rollout_controller_scrapes_protected_metrics_with_a_token(served: Served) -> None:
    from modelyard.core.errors import ModelyardError
    from modelyard.orchestration.signals import PrometheusScrape

    url = f"{served.base}/metrics"
    with httpx.Client(base_url=served.base, timeout=30) as c:  # one answer counted for bc@1
        c.post("/v1/models/bc:predict", json=_v1(served), headers=served.headers("predict"))
    with pytest.raises(ModelyardError, match="401"):
        PrometheusScrape([url]).snapshot("bc")
    snap = PrometheusScrape([url], token=served.tokens["viewer"]).snapshot("bc")
    assert snap["bc@1"].requests >= 1


def test_the_gates_load_check_serves_a_token_project_with_a_token_it_revokes(
    tmp_path: Path,
) -> None:
    from modelyard.cli.load_runner import run_load
    from modelyard.gates.checks.load import LoadRequest

    root = tmp_path / "proj"
    row, columns = _project(root, "serving:\n  auth: token\n")
    request = LoadRequest(
        model_ref="bc@1",
        artifact_digest=None,
        rows=[dict(zip(columns, row, strict=True))],
        concurrency=2,
        requests=40,
        extra={"project": str(root), "model": "bc"},
    )
    result = run_load(request)
    assert result.errors == 0 and result.throughput_rps > 0
    with Registry.open(root, ENV) as reg:
        (minted,) = GovernanceStore(reg.store).tokens()
    assert minted.name.startswith("gate-load-") and minted.role == "data-scientist"
    assert minted.revoked_at is not None
