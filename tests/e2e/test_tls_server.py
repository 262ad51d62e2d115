"""`modelyard serve` over TLS with a real TLS client; the same socket answers inference, the
management API (token required) and the dashboard."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from modelyard.registry.registry import Registry
from modelyard.security import tokens
from tests.support.servers import free_port, wait_ready
from tests.support.tls import self_signed

pytestmark = pytest.mark.slow


def test_https_inference_api_and_dashboard_on_one_socket(tmp_path: Path) -> None:
    from sklearn.datasets import load_wine
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_wine(return_X_y=True, as_frame=True)
    project = tmp_path / "p"
    with Registry.init(project, env={"MODELYARD_USER": "ops"}, identity="os") as reg:
        mv = reg.register_model(DecisionTreeClassifier(max_depth=2).fit(X, y), "wine", X.head())
        reg.transition(mv, "validated", reason="gates")
        reg.transition(mv, "approved", reason="review")
        reg.deploy(mv, "wine", reason="release")
        viewer = tokens.create(reg.store, "v", "viewer", "ops").secret
    cert, key = self_signed(tmp_path)
    port = free_port()
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("modelyard")),
            "serve",
            "--port",
            str(port),
            "--tls-cert",
            str(cert),
            "--tls-key",
            str(key),
            "-p",
            str(project),
        ],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"https://127.0.0.1:{port}"
    try:
        trust = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(verify=trust, timeout=5) as client:
            wait_ready(base, proc, client)
            row = X.head(1).to_dict(orient="records")
            r = client.post(f"{base}/v1/models/wine:predict", json={"instances": row})
            assert r.status_code == 200 and r.json()["predictions"] == [int(y.iloc[0])]
            assert client.get(f"{base}/api/v1/catalog").status_code == 401
            auth = {"Authorization": f"Bearer {viewer}"}
            assert client.get(f"{base}/api/v1/catalog", headers=auth).json()[0]["model"] == "wine"
            ui = client.get(f"{base}/ui/", headers=auth)
            assert ui.status_code == 200 and "wine@1" in ui.text
        with pytest.raises(httpx.ConnectError):  # a client that does not trust the cert
            httpx.get(f"{base}/v2/health/live", timeout=5)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
