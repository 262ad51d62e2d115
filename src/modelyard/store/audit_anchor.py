"""Where audit checkpoints live outside the database: an append-only local file and an object
store (one key per checkpoint, never overwritten).

A checkpoint pins (sequence, hash, time) of the chain, signed by the audit key when one is
configured. Whoever rewrites the database cannot rewrite these, provided the anchor is out of
their reach: a file on another host or made append-only by the OS (``chattr +a``), a bucket with
versioning or object lock whose credentials the database writer does not hold.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

from modelyard.core.audit import Checkpoint
from modelyard.core.errors import ModelyardError


class AnchorError(ModelyardError):
    """An anchor cannot be read or written, or holds something that is not a checkpoint."""


class Anchor(Protocol):
    url: str

    def write(self, cp: Checkpoint) -> None: ...

    def newest(self) -> list[Checkpoint]:
        """The checkpoints of the highest sequence number (more than one if they disagree)."""
        ...


def _highest(found: list[Checkpoint]) -> list[Checkpoint]:
    if not found:
        return []
    top = max(cp.seq for cp in found)
    distinct: dict[str, Checkpoint] = {}
    for cp in found:
        if cp.seq == top:
            distinct.setdefault(cp.hash, cp)
    return list(distinct.values())


class FileAnchor:
    """One JSON line per checkpoint, appended with ``O_APPEND`` and fsynced; never rewritten."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = str(path)

    def write(self, cp: Checkpoint) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise AnchorError(f"cannot open the audit anchor {self.path}: {exc.strerror}") from None
        try:
            os.write(fd, cp.to_line())  # one write of one line: appended whole
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> list[Checkpoint]:
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise AnchorError(f"cannot read the audit anchor {self.path}: {exc.strerror}") from None
        found = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    found.append(Checkpoint.parse(line, f"{self.path} line {n}"))
                except ValueError as exc:
                    raise AnchorError(str(exc)) from None
        return found

    def newest(self) -> list[Checkpoint]:
        return _highest(self.read())


class ObjectStoreAnchor:
    """``s3://bucket/prefix``: each checkpoint is its own object, named by sequence number and
    hash (``000000000123-<hash>.json``), written once and never overwritten. Turn on bucket
    versioning or object lock so that the credentials the server holds cannot rewrite them."""

    def __init__(self, url: str, **storage_options: Any) -> None:
        import fsspec

        self.url = url.rstrip("/")
        self.fs, base = fsspec.core.url_to_fs(self.url, **storage_options)
        self.base = base.rstrip("/")

    @staticmethod
    def key(cp: Checkpoint) -> str:
        return f"{cp.seq:012d}-{cp.hash}.json"

    def write(self, cp: Checkpoint) -> None:
        path = f"{self.base}/{self.key(cp)}"
        try:
            if self.fs.exists(path):
                return  # the same (seq, hash) is anchored already: never overwrite
            self.fs.pipe_file(path, cp.to_line())
        except OSError as exc:
            raise AnchorError(f"cannot write the audit anchor {self.url}: {exc}") from None

    def newest(self) -> list[Checkpoint]:
        try:
            self.fs.invalidate_cache(self.base)
            names = [p.rsplit("/", 1)[-1] for p in self.fs.ls(self.base, detail=False)]
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise AnchorError(f"cannot list the audit anchor {self.url}: {exc}") from None
        names = sorted(n for n in names if n.endswith(".json") and n[:12].isdigit())
        if not names:
            return []
        top = names[-1][:12]
        found = []
        for name in names:
            if name[:12] == top:
                source = f"{self.url}/{name}"
                try:
                    found.append(Checkpoint.parse(self.fs.cat_file(f"{self.base}/{name}"), source))
                except ValueError as exc:
                    raise AnchorError(str(exc)) from None
                except OSError as exc:
                    raise AnchorError(f"cannot read {source}: {exc}") from None
        for cp in found:
            if self.key(cp) != cp.source.rsplit("/", 1)[-1]:
                raise AnchorError(f"{cp.source} holds checkpoint {cp.seq} {cp.hash}: renamed?")
        return _highest(found)


def open_anchor(url: str, storage_options: dict[str, Any] | None = None) -> Anchor:
    if "://" not in url or url.startswith("file://"):
        return FileAnchor(Path(url.removeprefix("file://")))
    return ObjectStoreAnchor(url, **(storage_options or {}))
