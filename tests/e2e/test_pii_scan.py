"""PII minimisation: after data is registered, a model trained and served and its predictions
logged, no stored byte anywhere in the project holds a clear value of a PII-tagged column."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pandas as pd
import pytest

from modelyard.registry.registry import Registry
from modelyard.store.crypto import generate_key
from tests.support.servers import served

pytestmark = pytest.mark.slow
FEATURES = ["colour", "year", "age", "sex", "employed", "citizen", "checks"]


SENT = 40


def _served_project(tmp_path: Path) -> tuple[Path, dict[str, str], pd.DataFrame]:
    """A project whose model takes a PII-tagged e-mail, served by a real server process that
    logged ``SENT`` requests (sealed with an encryption key) and stopped cleanly."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklego.datasets import load_arrests

    df = pd.DataFrame(load_arrests(as_frame=True))
    df["email"] = [f"arrestee{i:05d}@example.org" for i in range(len(df))]
    project = tmp_path / "p"
    project.mkdir()
    (project / "modelyard.yaml").write_text(
        "identity: os\n"
        "datasets:\n  arrests: {target: released, pii: [email], protected: [colour, sex, age]}\n"
    )
    env = {
        "MODELYARD_USER": "ops",
        "MODELYARD_ENCRYPTION_KEY": base64.b64encode(generate_key()).decode(),
    }
    inputs = [*FEATURES, "email"]
    with Registry.open(project, env=env) as reg:
        with reg.start_run(model="arrests", seed=0) as run:
            ds = run.use_dataset(df, name="arrests")
            pre = ColumnTransformer(
                [
                    (
                        "cat",
                        OneHotEncoder(handle_unknown="ignore"),
                        ["colour", "sex", "employed", "citizen"],
                    ),
                    ("num", StandardScaler(), ["year", "age", "checks"]),
                ]
            )  # the email column is an input the model never uses
            model = Pipeline([("pre", pre), ("m", LogisticRegression(max_iter=500))])
            model.fit(df[inputs], df["released"] == "Yes")
            mv = run.log_model(model, sample_input=df[inputs].head(5))
        assert ds.schema["columns"][-1]["pii"]
        assert any(i["name"] == "email" and i.get("pii") for i in mv.signature["inputs"])
        reg.transition(mv, "validated", reason="gates")
        reg.transition(mv, "approved", reason="review")
        reg.deploy(mv, "arrests", reason="release")
    (project / "modelyard.yaml").write_text(
        (project / "modelyard.yaml").read_text()
        + "endpoints:\n  arrests:\n    prediction_log: {input_sample: 1.0}\n"
    )
    sent = df[inputs].head(SENT)
    with served(project, log=tmp_path / "server.log", env=env) as (base, _):
        for row in sent.to_dict(orient="records"):
            r = httpx.post(f"{base}/v1/models/arrests:predict", json={"instances": [row]})
            assert r.status_code == 200, r.text
    # leaving the block stopped the server cleanly, which flushes the prediction log
    return project, env, df


def test_no_stored_byte_holds_a_clear_pii_value(tmp_path: Path) -> None:
    from modelyard.store.prediction_log import read_log

    project, env, df = _served_project(tmp_path)

    folder = project / ".modelyard" / "predictions"
    assert b"enc1:" in next(folder.rglob("*.jsonl")).read_bytes(), "the log is sealed at rest"
    with Registry.open(project, env=env) as reg:
        entries = list(read_log(folder, "arrests", reg.artifacts.keyring))
    assert len(entries) == SENT
    assert all(e["input"][0]["email"].startswith("sha256:") for e in entries), "PII hashed"
    clear = [v.encode() for v in df["email"]]
    leaks = []
    for path in project.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            leaks += [f"{path}: {v.decode()}" for v in clear[:200] if v in data]
    assert leaks == []


def test_the_logged_hashes_resist_a_dictionary_with_the_encryption_key(tmp_path: Path) -> None:
    """The served, sealed log of a real server process: the e-mail digests are not those of
    the AES key, the old built-in key or no key, and only the project's secret reverses them."""
    import hashlib
    import hmac

    from modelyard.security.pii import pii_hash_key
    from modelyard.store.prediction_log import read_log

    project, env, df = _served_project(tmp_path)
    folder = project / ".modelyard" / "predictions"
    with Registry.open(project, env=env) as reg:
        digests = {
            e["input"][0]["email"] for e in read_log(folder, "arrests", reg.artifacts.keyring)
        }
        secret = pii_hash_key(reg.settings)
    assert secret is not None
    assert len(digests) == SENT
    aes = base64.b64decode(env["MODELYARD_ENCRYPTION_KEY"])

    def reversed_by(key: bytes) -> int:
        guesses = {
            "sha256:" + hmac.new(key, e.encode(), hashlib.sha256).hexdigest()[:32]
            for e in df["email"]
        }
        return len(guesses & digests)

    assert [reversed_by(k) for k in (aes, b"modelyard-pii", b"")] == [0, 0, 0]
    assert reversed_by(secret) == SENT
