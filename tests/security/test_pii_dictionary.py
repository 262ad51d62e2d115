"""Finding 5: a PII digest in the prediction log or the review queue cannot be reversed with a
dictionary by anyone without the project's PII secret — not with the old built-in key, not with
an empty key, not with the encryption key (which an operator of the log holds) — while equal
values still hash equally, in one project and across replicas sharing the secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from starlette.testclient import TestClient

from modelyard.monitoring.review import ReviewQueue
from modelyard.registry.registry import Registry
from modelyard.security.pii import derive_hash_key, pii_hash_key
from modelyard.store.crypto import generate_key
from modelyard.store.feedback import FeedbackStore
from modelyard.store.prediction_log import read_log

FEATURES = ["colour", "year", "age", "sex", "employed", "citizen", "checks"]
PROJECT_YAML = """\
identity: os
datasets:
  arrests: {target: released, pii: [email], protected: [colour, sex, age]}
endpoints:
  arrests:
    prediction_log: {input_sample: 1.0}
monitoring:
  review: {sample: 1.0}
"""
N_SENT = 30


@dataclass
class Served:
    project: Path
    env: dict[str, str]
    emails: list[str]  # the attacker's dictionary: every address in the data
    sent: pd.DataFrame  # the rows posted (the first five twice)
    logged: list[dict[str, Any]]  # input records read back from the prediction log
    queued: list[dict[str, Any]]  # input records of the review queue


def _arrests() -> pd.DataFrame:
    from sklego.datasets import load_arrests

    df = pd.DataFrame(load_arrests(as_frame=True))
    df["email"] = [f"arrestee{i:05d}@example.org" for i in range(len(df))]
    return df


def _serve(project: Path, env: dict[str, str], df: pd.DataFrame) -> Served:
    """Register a model that takes the PII-tagged e-mail as input, serve it in-process, post
    rows (five of them twice), and read the prediction log and the review queue back."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from modelyard.serving.stack import ServeSpec, build_app

    inputs = [*FEATURES, "email"]
    project.mkdir(parents=True, exist_ok=True)
    (project / "modelyard.yaml").write_text(PROJECT_YAML)
    reg = Registry.init(project, env=env, identity="os")
    with reg.start_run(model="arrests", seed=0) as run:
        run.use_dataset(df, name="arrests")
        pre = ColumnTransformer(
            [
                ("cat", OneHotEncoder(handle_unknown="ignore"), ["colour", "sex", "employed"]),
                ("num", StandardScaler(), ["year", "age", "checks"]),
            ]
        )  # the e-mail is an input the model never uses
        model = Pipeline([("pre", pre), ("m", LogisticRegression(max_iter=300))])
        model.fit(df[inputs], df["released"] == "Yes")
        mv = run.log_model(model, sample_input=df[inputs].head(5))
    assert any(i["name"] == "email" and i.get("pii") for i in mv.signature["inputs"])
    reg.transition(mv, "validated", reason="gates")
    reg.transition(mv, "approved", reason="review")
    reg.deploy(mv, "arrests", reason="release")
    sent = df[inputs].head(N_SENT)
    rows = [*sent.to_dict(orient="records"), *sent.head(5).to_dict(orient="records")]
    queue = ReviewQueue(reg)
    app = build_app(
        reg,
        ServeSpec(project=str(project), ref=mv.ref, refresh_s=0.1),
        observers=[queue],
        on_startup=[queue.start],
        on_shutdown=[queue.stop],
    )
    with TestClient(app) as client:
        for row in rows:
            r = client.post("/v1/models/arrests:predict", json={"instances": [row]})
            assert r.status_code == 200, r.text
    logged = [
        e["input"][0]
        for e in read_log(reg.settings.state_dir / "predictions", "arrests", reg.artifacts.keyring)
    ]
    queued = [i.input[0] for i in FeedbackStore(reg.store).review_items("arrests")]
    reg.close()
    assert len(logged) == len(queued) == len(rows)
    return Served(project, env, list(df["email"]), sent, logged, queued)


def _digest(key: bytes, value: str) -> str:
    return "sha256:" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]


def _attack(keys: dict[str, bytes], emails: list[str], digests: set[str]) -> dict[str, int]:
    """How many logged digests each candidate key reverses, with the whole dictionary."""
    return {name: len({_digest(key, e) for e in emails} & digests) for name, key in keys.items()}


@pytest.fixture(scope="module")
def arrests() -> pd.DataFrame:
    return _arrests()


@pytest.fixture(scope="module", params=["encrypted", "plain"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, arrests: Any
) -> Iterator[Served]:
    env = {"MODELYARD_USER": "ops"}
    if request.param == "encrypted":
        env["MODELYARD_ENCRYPTION_KEY"] = base64.b64encode(generate_key()).decode()
    yield _serve(tmp_path_factory.mktemp(request.param) / "p", env, arrests)


def test_a_dictionary_with_every_key_an_attacker_knows_reverses_no_logged_address(
    served: Served,
) -> None:
    digests = {r["email"] for r in served.logged + served.queued}
    assert digests and all(d.startswith("sha256:") for d in digests)
    aes = served.env.get("MODELYARD_ENCRYPTION_KEY")
    known: dict[str, bytes] = {
        "the old built-in key": b"modelyard-pii",
        "the empty key": b"",
        "HKDF of an all-zero secret (the label is public)": derive_hash_key(bytes(32)),
    }
    if aes:
        aes_key = base64.b64decode(aes)
        known["the AES key"] = aes_key
        known["HKDF of the AES key, with modelyard's label"] = derive_hash_key(aes_key)
    found = _attack(known, served.emails, digests)
    unkeyed = {"sha256:" + hashlib.sha256(e.encode()).hexdigest()[:32] for e in served.emails}
    found["plain SHA-256"] = len(unkeyed & digests)
    assert found == dict.fromkeys(found, 0)

    # the same attack with the project's secret reverses them all: the test can see a leak
    with Registry.open(served.project, env=served.env) as reg:
        real = pii_hash_key(reg.settings)
    assert real is not None
    assert _attack({"secret": real}, served.emails, digests) == {"secret": N_SENT}


def test_equal_values_hash_equally_in_the_log_and_the_queue_so_joins_still_work(
    served: Served,
) -> None:
    by_value: dict[str, str] = {}
    for email, digest in zip(
        [*served.sent["email"], *served.sent["email"].head(5)],
        [r["email"] for r in served.logged],
        strict=True,
    ):
        assert by_value.setdefault(email, digest) == digest, "one value, one digest"
    assert len(set(by_value.values())) == N_SENT, "different values, different digests"
    assert sorted(r["email"] for r in served.queued) == sorted(r["email"] for r in served.logged)


def test_the_secret_is_a_private_git_ignored_file_and_never_in_the_store(served: Served) -> None:
    secret_file = served.project / ".modelyard" / "pii.key"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    text = secret_file.read_text().strip()
    assert len(base64.b64decode(text)) >= 32
    subprocess.run(["git", "init", "-q", str(served.project)], check=True)
    ignored = subprocess.run(
        ["git", "-C", str(served.project), "check-ignore", "-q", ".modelyard/pii.key"]
    )
    assert ignored.returncode == 0, "git ignores the secret"
    raw = base64.b64decode(text)
    for path in served.project.rglob("*"):
        if path.is_file() and path != secret_file:
            data = path.read_bytes()
            assert text.encode() not in data and raw not in data, f"the secret is in {path}"


def test_replicas_sharing_the_team_secret_hash_equally_and_other_projects_do_not(
    tmp_path: Path, arrests: pd.DataFrame
) -> None:
    team = {
        "MODELYARD_USER": "ops",
        "MODELYARD_PII_SECRET": base64.b64encode(os.urandom(32)).decode(),
    }
    df = arrests.head(400)
    one = _serve(tmp_path / "replica-1", team, df)
    two = _serve(tmp_path / "replica-2", team, df)
    alone = _serve(tmp_path / "elsewhere", {"MODELYARD_USER": "ops"}, df)
    assert not (one.project / ".modelyard" / "pii.key").exists(), "team mode keeps no file"
    assert [r["email"] for r in one.logged] == [r["email"] for r in two.logged]
    assert not {r["email"] for r in one.logged} & {r["email"] for r in alone.logged}


def test_an_existing_project_gets_its_secret_on_first_use_and_keeps_it(tmp_path: Path) -> None:
    project = tmp_path / "old"
    project.mkdir()
    # made before secrets existed
    (project / "modelyard.yaml").write_text("name: old\nidentity: os\n")
    with Registry.open(project, env={"MODELYARD_USER": "ops"}) as reg:
        first = pii_hash_key(reg.settings)
    assert (project / ".modelyard" / "pii.key").is_file()
    with Registry.open(project, env={"MODELYARD_USER": "ops"}) as reg:
        assert pii_hash_key(reg.settings) == first


def test_no_built_in_pii_key_is_left_in_the_source() -> None:
    src = Path(__file__).parents[2] / "src" / "modelyard"
    hits = [p for p in src.rglob("*.py") if b"modelyard-pii" in p.read_bytes()]
    assert hits == []


def test_without_a_secret_to_be_had_pii_is_dropped_never_hashed_with_a_weaker_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A server whose project folder cannot hold a secret file (read-only, as in the
    generated Kubernetes manifests) and that was given no MODELYARD_PII_SECRET."""
    from modelyard.core.settings import Settings
    from modelyard.security.pii import private_record
    from modelyard.serving.predlog import PredictionLog

    blocked = tmp_path / "project"
    blocked.write_text("not a folder: nothing can be created under it")
    settings = Settings(blocked, "sqlite://", str(tmp_path / "artifacts"), "ops")
    with caplog.at_level("ERROR", logger="modelyard.security"):
        assert pii_hash_key(settings) is None
        assert PredictionLog.for_settings(settings, {}, None).pii_key is None
    assert "MODELYARD_PII_SECRET is not set" in caplog.text
    row = {"email": "arrestee00001@example.org", "age": 30}
    assert private_record(row, frozenset({"email"}), "hash", None) == {"age": 30}
