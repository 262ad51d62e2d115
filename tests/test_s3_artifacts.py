"""Artifacts and whole projects on a real S3 server (SeaweedFS started on 127.0.0.1)."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest

from modelyard.core.errors import EncryptionError, IntegrityError
from modelyard.store.artifacts import ArtifactStore, FsspecBackend
from modelyard.store.crypto import Keyring, generate_key
from tests.support.s3server import S3Endpoint, s3_endpoint  # noqa: F401

pytestmark = pytest.mark.s3


def _backend(ep: S3Endpoint) -> FsspecBackend:
    return FsspecBackend(ep.url(f"t-{uuid.uuid4().hex[:8]}"), **ep.storage_options())


def test_s3_round_trip_is_content_addressed_and_verified(s3_endpoint: S3Endpoint) -> None:  # noqa: F811
    backend = _backend(s3_endpoint)
    store = ArtifactStore(backend)
    data = bytes(range(256)) * 40_000  # ~10 MB: a multipart upload
    put = store.put(data)
    assert store.put(data).created is False
    assert store.get(put.digest) == data
    backend.put_atomic(store.key_for(put.digest), data[:-1] + b"\x00")
    with pytest.raises(IntegrityError, match=put.digest):
        store.get(put.digest)


def test_s3_encrypted_objects_hold_no_plaintext(s3_endpoint: S3Endpoint) -> None:  # noqa: F811
    backend = _backend(s3_endpoint)
    key = generate_key()
    store = ArtifactStore(backend, Keyring(key))
    secret = b"patient-record:" + uuid.uuid4().bytes * 64
    digest = store.put(secret).digest
    raw = backend.get(store.key_for(digest))
    assert b"patient-record:" not in raw
    assert store.get(digest) == secret
    with pytest.raises(EncryptionError):
        ArtifactStore(backend).get(digest)


def test_a_project_runs_on_s3_artifacts(s3_endpoint: S3Endpoint, tmp_path: Path) -> None:  # noqa: F811
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from modelyard.registry.registry import Registry

    env = {
        "MODELYARD_ARTIFACTS": s3_endpoint.url(f"proj-{uuid.uuid4().hex[:8]}"),
        "MODELYARD_S3_ENDPOINT_URL": s3_endpoint.endpoint_url,
        "AWS_ACCESS_KEY_ID": s3_endpoint.access_key,
        "AWS_SECRET_ACCESS_KEY": s3_endpoint.secret_key,
        "MODELYARD_ENCRYPTION_KEY": base64.b64encode(generate_key()).decode(),
    }
    X, y = load_wine(return_X_y=True, as_frame=True)
    with Registry.init(tmp_path, env=env) as reg:
        ds = reg.add_dataset(X.assign(target=y), name="wine")
        with reg.start_run(model="wine", seed=1) as run:
            run.use_dataset(ds)
            model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
            mv = run.log_model(model, sample_input=X.head())
        assert (reg.load_model(mv).predict(X.head()) == y.head()).all()
        assert reg.load_dataset(ds).shape == (178, 14)
        assert not (tmp_path / ".modelyard" / "artifacts").exists(), "nothing stored locally"
