"""Bad input is a 4xx in the one JSON error shape, never a 5xx; request bodies are bounded
before they are read, on every route of every app (inference, management API, dashboard).

In process through the app `modelyard serve` composes (real SQLite and PostgreSQL stores);
the memory and read-deadline checks run against a real `modelyard serve` on a socket (slow).
Schemathesis over the management API: tests/test_api_fuzz.py."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from starlette.testclient import TestClient

from modelyard.cli.serve_app import compose
from modelyard.registry.registry import Registry
from modelyard.security import tokens
from modelyard.serving.stack import ServeSpec, build_app
from tests.support.pg import fresh_schema
from tests.support.projects import breast_cancer_endpoint
from tests.support.servers import served

HUGE = "99999999999999999999"  # > 2^63: overflowed the database driver's integer binding
MIB = 1024 * 1024


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The composed app of `modelyard serve` over a model with an integer input column, on a
    SQLite and on a PostgreSQL store (one per module: the tests only read, or are refused)."""
    from sklearn.linear_model import LogisticRegression

    with contextlib.ExitStack() as stack:
        root = tmp_path_factory.mktemp("bad-input")
        url = f"sqlite:///{root / 'meta.db'}"
        if request.param == "postgresql":
            url = stack.enter_context(fresh_schema(request.getfixturevalue("postgres_url")))
        env = {"MODELYARD_STORE_URL": url, "MODELYARD_USER": "tester"}
        reg = stack.enter_context(Registry.init(root / "p", env=env, identity="os"))
        X = pd.DataFrame({"count": [1, 2, 3, 4, 5, 6], "share": [0.1, 0.5, 0.2, 0.9, 0.3, 0.8]})
        mv = reg.register_model(LogisticRegression().fit(X, [0, 1, 0, 1, 0, 1]), "m", X)
        admin = tokens.create(reg.store, "red-team", "admin", "tester").secret
        spec = ServeSpec(project=str(root / "p"), ref=mv.ref, prediction_log=False)
        app = compose(reg, build_app(reg, spec))
        client = stack.enter_context(TestClient(app, raise_server_exceptions=False))
        client.cookies.set("modelyard_token", admin)
        yield client, {"Authorization": f"Bearer {admin}"}


def _refused(response: Any, status: int, *words: str) -> None:
    assert response.status_code == status, (response.status_code, response.text[:300])
    if response.headers["content-type"].startswith("application/json"):
        doc = response.json()
        assert doc["error"] and doc["code"], doc
        for word in words:
            assert word in doc["error"], doc
    else:  # a dashboard page: the error page, with the same status
        assert "<html" in response.text


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/models/m@{HUGE}",
        f"/api/v1/models/m@{HUGE}/lineage",
        f"/ui/models/m@{HUGE}",
    ],
)
def test_a_version_beyond_64_bits_in_a_reference_is_a_422(
    server: tuple[TestClient, dict[str, str]], path: str
) -> None:
    client, auth = server
    _refused(client.get(path, headers=auth), 422, "larger than 9223372036854775807")


@pytest.mark.parametrize(
    ("path", "form"),
    [
        (f"/api/v1/models/m@{HUGE}/approve", {"comment": "ok"}),
        (f"/api/v1/review/{HUGE}", {"decision": "confirm"}),
        (f"/ui/review/{HUGE}", {"decision": "confirm"}),
        (f"/ui/alerts/{HUGE}/ack", {"reason": "on it"}),
        (f"/ui/models/m@{HUGE}/approve", {"comment": "ok"}),
    ],
)
def test_an_id_beyond_64_bits_in_an_action_is_a_422(
    server: tuple[TestClient, dict[str, str]], path: str, form: dict[str, str]
) -> None:
    client, auth = server
    if path.startswith("/api/"):
        response = client.post(path, headers=auth, json=form)
    else:
        response = client.post(path, headers=auth, data=form)
    _refused(response, 422)


@pytest.mark.parametrize("days", ["NaN", "Infinity", "1e308", "true", "false", "0", '"7"'])
def test_token_expiry_must_be_a_finite_number_of_days(
    server: tuple[TestClient, dict[str, str]], days: str
) -> None:
    client, auth = server
    body = f'{{"name": "t1", "role": "viewer", "expires_days": {days}}}'
    response = client.post(
        "/api/v1/tokens", headers={**auth, "content-type": "application/json"}, content=body
    )
    _refused(response, 422, "expires_days")


def test_a_token_expiring_in_30_days_is_still_created(
    server: tuple[TestClient, dict[str, str]],
) -> None:
    client, auth = server
    response = client.post(
        "/api/v1/tokens", headers=auth, json={"name": "t30", "role": "viewer", "expires_days": 30}
    )
    assert response.status_code == 200, response.text
    assert response.json()["expires_at"]


@pytest.mark.parametrize("weight", ["NaN", "true", "1e308", "-0.5"])
def test_a_deploy_weight_must_be_a_number_from_0_to_1(
    server: tuple[TestClient, dict[str, str]], weight: str
) -> None:
    client, auth = server
    body = f'{{"version": "m@1", "role": "canary", "weight": {weight}}}'
    response = client.post(
        "/api/v1/endpoints/m/deploy",
        headers={**auth, "content-type": "application/json"},
        content=body,
    )
    _refused(response, 422, "weight")


@pytest.mark.parametrize(
    "body",
    [
        {"instances": [{"count": 1e300, "share": 0.1}]},
        {"instances": [[1e300, 0.1]]},
        {"inputs": {"count": [1e300], "share": [0.1]}},
    ],
    ids=["v1-records", "v1-rows", "v1-columns"],
)
def test_an_integer_input_beyond_int64_is_a_422_on_v1(
    server: tuple[TestClient, dict[str, str]], body: dict[str, Any]
) -> None:
    client, _ = server
    _refused(client.post("/v1/models/m:predict", json=body), 422, "64-bit")


@pytest.mark.parametrize(
    "inputs",
    [
        [
            {"name": "count", "shape": [1], "datatype": "FP64", "data": [1e300]},
            {"name": "share", "shape": [1], "datatype": "FP64", "data": [0.1]},
        ],
        [{"name": "input-0", "shape": [1, 2], "datatype": "FP64", "data": [[1e300, 0.1]]}],
        [{"name": "count", "shape": [1], "datatype": "INT64", "data": [1e300]}],
    ],
    ids=["per-column", "matrix", "int64-json"],
)
def test_an_integer_input_beyond_int64_is_a_422_on_v2(
    server: tuple[TestClient, dict[str, str]], inputs: list[dict[str, Any]]
) -> None:
    client, _ = server
    response = client.post("/v2/models/m/infer", json={"inputs": inputs})
    _refused(response, 422)


def test_the_largest_int64_that_a_float_holds_exactly_is_still_served(
    server: tuple[TestClient, dict[str, str]],
) -> None:
    client, _ = server
    response = client.post("/v1/models/m:predict", json={"instances": [[2.0**62, 0.1]]})
    assert response.status_code == 200, response.text


# ---- bodies bounded before they are read ----------------------------------------------------
@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("/ui/login", MIB),
        ("/ui/review/1", MIB),
        ("/api/v1/tokens", MIB),
        ("/api/v1/feedback", MIB),
        ("/v1/models/m:predict", 16 * MIB),
        ("/v2/models/m/infer", 16 * MIB),
        ("/v1/unknown-route", 16 * MIB),
    ],
)
def test_a_declared_length_over_the_limit_is_a_413_before_anything_is_read(
    server: tuple[TestClient, dict[str, str]], path: str, limit: int
) -> None:
    client, auth = server
    read: list[int] = []

    def body() -> Iterator[bytes]:  # counts what the server pulls from the client
        for _ in range(limit // (64 * 1024) + 2):
            read.append(1)
            yield b"x" * (64 * 1024)

    headers = {**auth, "content-length": str(limit + 1), "content-type": "application/json"}
    response = client.post(path, headers=headers, content=body())
    _refused(response, 413, f"{limit:,} bytes")
    assert response.json()["code"] == "payload_too_large"
    assert response.headers["connection"] == "close"
    assert len(read) <= 1  # the test client primes the first chunk; the app read none of it


@pytest.mark.parametrize(
    ("path", "limit"),
    [("/ui/login", MIB), ("/api/v1/tokens", MIB), ("/v1/models/m:predict", 16 * MIB)],
)
def test_a_chunked_body_is_refused_once_it_crosses_the_limit(
    server: tuple[TestClient, dict[str, str]], path: str, limit: int
) -> None:
    client, auth = server

    def body() -> Iterator[bytes]:  # no Content-Length: streamed chunked
        for _ in range(limit // (64 * 1024) * 4):
            yield b"x" * (64 * 1024)

    form = {"content-type": "application/x-www-form-urlencoded"}  # what the dashboard parses
    response = client.post(path, headers={**auth, **form}, content=body())
    _refused(response, 413, f"{limit:,} bytes")


def test_a_malformed_content_length_is_a_400(server: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = server
    response = client.post(
        "/api/v1/tokens", headers={**auth, "content-length": "12x"}, content=b"{}"
    )
    _refused(response, 400, "Content-Length")


def test_the_limits_come_from_the_project_file(local_registry: Registry) -> None:
    from sklearn.linear_model import LogisticRegression

    project = local_registry.settings.project_dir
    (project / "modelyard.yaml").write_text(
        "name: limits\nidentity: os\nhttp: {max_body_bytes: 4096, max_form_bytes: 2048}\n"
    )
    reg = Registry.open(project, {"MODELYARD_USER": "tester"})
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]})
    mv = reg.register_model(LogisticRegression().fit(X, [0, 1, 0, 1]), "m", X)
    spec = ServeSpec(project=str(project), ref=mv.ref, prediction_log=False)
    with TestClient(compose(reg, build_app(reg, spec)), raise_server_exceptions=False) as c:
        assert c.post("/v1/models/m:predict", content=b" " * 4097).status_code == 413
        assert c.post("/ui/login", content=b" " * 2049).status_code == 413
        small = c.post("/v1/models/m:predict", json={"instances": [[1.0]]})
        assert small.status_code == 200, small.text
    reg.close()


# ---- a real `modelyard serve` on a socket: memory and the read deadline -----------------------
def _peak_rss(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc")


def _post_raw(port: int, path: str, head: str, chunks: Iterator[bytes]) -> bytes:
    """Send headers and as much of the body as the server takes; return its answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nhost: x\r\n{head}\r\n".encode())
        with contextlib.suppress(OSError):  # the server closes once it has refused
            for chunk in chunks:
                sock.sendall(chunk)
        answer = b""
        with contextlib.suppress(OSError):
            while data := sock.recv(65536):
                answer += data
        return answer


@pytest.fixture(scope="module")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int, str]]:
    """A `modelyard serve` with a 1 s body deadline: (port, pid, an admin token)."""
    root = tmp_path_factory.mktemp("serve") / "p"
    breast_cancer_endpoint(root)
    with (root / "modelyard.yaml").open("a") as fh:
        fh.write("http: {body_timeout_s: 1.0}\n")
    with Registry.open(root, {"MODELYARD_USER": "tester"}) as reg:
        admin = tokens.create(reg.store, "red-team", "admin", "tester").secret
    with served(root, log=root.parent / "serve.log") as (base, proc):
        yield int(base.rsplit(":", 1)[1]), proc.pid, admin


@pytest.mark.slow
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_100_mb_unauthenticated_post_to_the_login_form_leaves_memory_bounded(
    real_server: tuple[int, int, str], framing: str
) -> None:
    port, pid, _ = real_server
    block = b"token=" + b"x" * (1024 * 1024 - 6)
    n = 100
    form = "content-type: application/x-www-form-urlencoded\r\n"
    if framing == "content-length":
        head = f"content-length: {n * len(block)}\r\n{form}"
        chunks: Iterator[bytes] = iter([block] * n)
    else:
        head = f"transfer-encoding: chunked\r\n{form}"
        frame = f"{len(block):x}\r\n".encode() + block + b"\r\n"
        chunks = iter([frame] * n + [b"0\r\n\r\n"])
    before = _peak_rss(pid)
    answer = _post_raw(port, "/ui/login", head, chunks)
    grown = _peak_rss(pid) - before
    assert grown < 32 * MIB, f"peak RSS grew by {grown / MIB:.0f} MiB for a refused body"
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b'"code":"payload_too_large"' in answer


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/ui/login", "/api/v1/tokens", "/v1/models/bc:predict"])
def test_a_body_that_trickles_in_is_cut_off_with_a_408(
    real_server: tuple[int, int, str], path: str
) -> None:
    port, _, admin = real_server
    media = "application/x-www-form-urlencoded" if path.startswith("/ui/") else "application/json"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: {media}\r\n"
            f"authorization: Bearer {admin}\r\ncontent-length: 1000\r\n\r\n{{".encode()
        )
        started = time.monotonic()
        answer = sock.recv(65536)
        waited = time.monotonic() - started
        while data := sock.recv(65536):  # the refusal closes the connection
            answer += data
    assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
    assert b'"code":"request_timeout"' in answer
    assert waited < 5, f"answered after {waited:.1f} s with a 1 s deadline"
