"""Content-addressed, immutable artifact store over a local folder or any fsspec URL (s3://).

An object's address is the SHA-256 of its plaintext. Writes are atomic: on a local folder the
bytes go to a temporary file that is fsynced and renamed into place (fsspec's local backend
offers no fsync, and a crash must never leave a visible partial object, hence the hand-written
path); on S3 a single PUT is atomic by the protocol. Every read re-hashes and compares, so a
corrupted object is an error naming it, never silently wrong bytes.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from modelyard.core.errors import EncryptionError, IntegrityError, InvalidInput, NotFound
from modelyard.store.crypto import Keyring, is_encrypted

_DIGEST = re.compile(r"^[0-9a-f]{64}$")
TMP_PREFIX = ".tmp-"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_digest(digest: str) -> str:
    if not _DIGEST.match(digest):
        raise InvalidInput(f"invalid artifact digest {digest!r}: expected 64 lowercase hex chars")
    return digest


class Backend(Protocol):
    """Where bytes live. Keys are relative paths like ``objects/ab/abcdef…``."""

    url: str

    def put_atomic(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def keys(self, prefix: str) -> Iterator[str]: ...
    def delete(self, key: str) -> None: ...


class LocalBackend:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = str(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise InvalidInput(f"artifact key {key!r} escapes the artifact folder")
        return path

    def put_atomic(self, key: str, data: bytes) -> None:
        final = self._path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.parent / f"{TMP_PREFIX}{uuid.uuid4().hex}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        dir_fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"artifact object {key} is missing from {self.url}") from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def keys(self, prefix: str) -> Iterator[str]:
        base = self._path(prefix)
        if not base.exists():
            return
        for dirpath, _dirs, files in os.walk(base):
            for f in files:
                yield str(Path(dirpath, f).relative_to(self.root))

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class FsspecBackend:
    """Any fsspec filesystem; used for ``s3://bucket/prefix`` (single PUTs are atomic)."""

    def __init__(self, url: str, **storage_options: Any) -> None:
        import fsspec

        self.url = url.rstrip("/")
        self.fs, self.base = fsspec.core.url_to_fs(self.url, **storage_options)
        self.base = self.base.rstrip("/")

    def _p(self, key: str) -> str:
        if ".." in key.split("/"):
            raise InvalidInput(f"artifact key {key!r} escapes the artifact location")
        return f"{self.base}/{key}"

    def put_atomic(self, key: str, data: bytes) -> None:
        self.fs.pipe_file(self._p(key), data)

    def get(self, key: str) -> bytes:
        try:
            return bytes(self.fs.cat_file(self._p(key)))
        except FileNotFoundError:
            raise NotFound(f"artifact object {key} is missing from {self.url}") from None

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._p(key)))

    def keys(self, prefix: str) -> Iterator[str]:
        try:
            found = self.fs.find(self._p(prefix))
        except FileNotFoundError:
            return
        for path in found:
            yield path[len(self.base) + 1 :]

    def delete(self, key: str) -> None:
        self.fs.rm_file(self._p(key))


def open_backend(url: str, storage_options: dict[str, Any] | None = None) -> Backend:
    if "://" not in url or url.startswith("file://"):
        return LocalBackend(Path(url.removeprefix("file://")))
    return FsspecBackend(url, **(storage_options or {}))


@dataclass(frozen=True)
class PutResult:
    digest: str
    size: int
    created: bool


class ArtifactStore:
    """Immutable blobs addressed by the SHA-256 of their plaintext."""

    def __init__(self, backend: Backend, keyring: Keyring | None = None) -> None:
        self.backend = backend
        self.keyring = keyring

    @staticmethod
    def key_for(digest: str) -> str:
        check_digest(digest)
        return f"objects/{digest[:2]}/{digest}"

    def put(self, data: bytes) -> PutResult:
        digest = sha256_hex(data)
        key = self.key_for(digest)
        if self.backend.exists(key):
            return PutResult(digest, len(data), created=False)
        payload = data if self.keyring is None else self.keyring.encrypt(data, digest.encode())
        self.backend.put_atomic(key, payload)
        return PutResult(digest, len(data), created=True)

    def get(self, digest: str) -> bytes:
        key = self.key_for(digest)
        blob = self.backend.get(key)
        # A plaintext object may itself begin with the envelope's magic bytes, so the digest
        # decides: only bytes that do not hash to their name are treated as an envelope.
        if is_encrypted(blob) and sha256_hex(blob) != digest:
            if self.keyring is None:
                raise EncryptionError(
                    f"artifact {digest} is encrypted and no key is configured",
                    hint="set MODELYARD_ENCRYPTION_KEY or MODELYARD_ENCRYPTION_KEY_FILE",
                )
            blob = self.keyring.decrypt(blob, digest.encode(), name=f"artifact {digest}")
        actual = sha256_hex(blob)
        if actual != digest:
            raise IntegrityError(
                f"artifact {digest} is corrupted: its content hashes to {actual}",
                hint="restore it from a backup; `modelyard doctor` lists every damaged object",
                digest=digest,
            )
        return blob

    def exists(self, digest: str) -> bool:
        return self.backend.exists(self.key_for(digest))

    def reencrypt(self, digest: str) -> bool:
        """Rewrite one object under the current key (same plaintext, same address). Returns
        True if it was rewritten: plaintext objects get encrypted, old-key objects re-keyed."""
        from modelyard.store.crypto import key_id

        if self.keyring is None:
            raise EncryptionError("re-encryption needs a current key (MODELYARD_ENCRYPTION_KEY)")
        key = self.key_for(digest)
        blob = self.backend.get(key)
        current = key_id(self.keyring.current)
        if is_encrypted(blob) and sha256_hex(blob) != digest and blob[6:14] == current:
            return False
        plaintext = self.get(digest)  # verified (and decrypted with an old key if need be)
        self.backend.put_atomic(key, self.keyring.encrypt(plaintext, digest.encode()))
        return True

    def verify(self, digest: str) -> str | None:
        """None if the object is present and intact, else a description of the problem."""
        try:
            self.get(digest)
        except NotFound:
            return "missing"
        except (IntegrityError, EncryptionError) as exc:
            return exc.message
        return None

    def digests(self) -> Iterator[str]:
        for key in self.backend.keys("objects"):
            name = key.rsplit("/", 1)[-1]
            if _DIGEST.match(name):
                yield name

    def partial_objects(self) -> list[str]:
        """Leftover temporary files from interrupted writes (never visible as objects)."""
        return [
            k for k in self.backend.keys("objects") if k.rsplit("/", 1)[-1].startswith(TMP_PREFIX)
        ]
