"""The artifact store: content-addressed, immutable, verified on every read, optionally sealed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.core.errors import EncryptionError, IntegrityError, InvalidInput, NotFound
from modelyard.store.artifacts import ArtifactStore, LocalBackend, sha256_hex
from modelyard.store.crypto import Keyring, generate_key

blobs = st.binary(min_size=0, max_size=4096)


def _store(root: Path, key: bytes | None = None) -> ArtifactStore:
    return ArtifactStore(LocalBackend(root), Keyring(key) if key else None)


@settings(max_examples=60, deadline=None)
@given(data=blobs)
def test_put_then_get_returns_the_same_bytes_under_their_sha256(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    store = _store(tmp_path_factory.mktemp("a"))
    put = store.put(data)
    assert put.digest == sha256_hex(data)
    assert store.get(put.digest) == data


@settings(max_examples=30, deadline=None)
@given(data=blobs)
def test_putting_the_same_bytes_twice_is_idempotent(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    root = tmp_path_factory.mktemp("b")
    store = _store(root)
    first, second = store.put(data), store.put(data)
    assert first.digest == second.digest
    assert first.created and not second.created
    assert list(store.digests()) == [first.digest]


@settings(max_examples=40, deadline=None)
@given(data=st.binary(min_size=1, max_size=2048), flip=st.integers(min_value=0))
def test_any_corruption_is_detected_and_names_the_object(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, flip: int
) -> None:
    root = tmp_path_factory.mktemp("c")
    store = _store(root)
    digest = store.put(data).digest
    path = root / store.key_for(digest)
    raw = bytearray(path.read_bytes())
    raw[flip % len(raw)] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError, match=digest):
        store.get(digest)
    assert store.verify(digest) is not None


@settings(max_examples=40, deadline=None)
@given(data=blobs)
def test_encrypted_round_trip_and_no_plaintext_on_disk(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    root = tmp_path_factory.mktemp("d")
    key = generate_key()
    store = _store(root, key)
    digest = store.put(data).digest
    assert store.get(digest) == data
    stored = (root / store.key_for(digest)).read_bytes()
    if len(data) >= 8:
        assert data not in stored


def test_encrypted_object_without_the_key_fails_clearly(tmp_path: Path) -> None:
    key = generate_key()
    digest = _store(tmp_path, key).put(b"secret model bytes" * 100).digest
    with pytest.raises(EncryptionError, match="no key is configured"):
        _store(tmp_path).get(digest)
    with pytest.raises(EncryptionError, match="key this process does not have"):
        _store(tmp_path, generate_key()).get(digest)


def test_rotated_keys_keep_old_objects_readable(tmp_path: Path) -> None:
    old, new = generate_key(), generate_key()
    digest = _store(tmp_path, old).put(b"written with the old key").digest
    rotated = ArtifactStore(LocalBackend(tmp_path), Keyring(new, older=[old]))
    assert rotated.get(digest) == b"written with the old key"


def test_missing_object_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        _store(tmp_path).get("a" * 64)


def test_bad_digest_and_escaping_keys_are_refused(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with pytest.raises(InvalidInput, match="invalid artifact digest"):
        store.get("../../etc/passwd")
    with pytest.raises(InvalidInput, match="escapes"):
        LocalBackend(tmp_path).get("../outside")


def test_interrupted_write_leaves_no_visible_object(tmp_path: Path) -> None:
    store = _store(tmp_path)
    # simulate a writer killed after creating its temporary file
    (tmp_path / "objects" / "ab").mkdir(parents=True)
    (tmp_path / "objects" / "ab" / ".tmp-deadbeef").write_bytes(b"half")
    assert list(store.digests()) == []
    assert store.partial_objects() == [os.path.join("objects", "ab", ".tmp-deadbeef")]
