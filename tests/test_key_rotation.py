"""Key rotation: new writes use the new key, old objects stay readable, re-encrypt completes it."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelyard.core.errors import EncryptionError
from modelyard.registry.registry import Registry
from modelyard.store.crypto import generate_key, key_id


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_rotation_keeps_old_objects_readable_and_reencrypt_moves_them(project_dir: Path) -> None:
    old, new = generate_key(), generate_key()
    with Registry.init(project_dir, env={"MODELYARD_ENCRYPTION_KEY": _b64(old)}) as reg:
        before = reg.artifacts.put(b"written under the old key" * 10).digest
    keys = project_dir.parent / "keys"
    keys.write_text(f"{_b64(new)}\n{_b64(old)}\n")
    env = {"MODELYARD_ENCRYPTION_KEY_FILE": str(keys)}
    with Registry.open(project_dir, env=env) as reg:
        assert reg.artifacts.get(before).startswith(b"written under the old key")
        after = reg.artifacts.put(b"written under the new key").digest
        raw = reg.artifacts.backend.get(reg.artifacts.key_for(after))
        assert raw[6:14] == key_id(new)
    exe = str(Path(sys.executable).with_name("modelyard"))
    out = subprocess.run(
        [exe, "key", "reencrypt", "--json", "-p", str(project_dir)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=True,
    )
    assert json.loads(out.stdout)["rewritten"] >= 1
    with Registry.open(project_dir, env={"MODELYARD_ENCRYPTION_KEY": _b64(new)}) as reg:
        assert reg.artifacts.get(before).startswith(b"written under the old key")
    only_old = {"MODELYARD_ENCRYPTION_KEY": _b64(old)}
    with (
        Registry.open(project_dir, env=only_old) as reg,
        pytest.raises(EncryptionError, match="key this process does not have"),
    ):
        reg.artifacts.get(before)
