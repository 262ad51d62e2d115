"""Bad configuration is rejected with the file, the line, the key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.core.errors import ConfigError, InvalidInput
from modelyard.core.project import parse_project
from modelyard.core.refs import parse_ref
from modelyard.core.settings import Settings


def test_a_typo_in_a_key_names_file_line_and_suggests_the_fix() -> None:
    text = "name: p\nmodels:\n  churn:\n    ownr: me\n"
    with pytest.raises(ConfigError) as err:
        parse_project(text, "modelyard.yaml")
    msg = str(err.value)
    assert "modelyard.yaml:4" in msg and "models.churn.ownr" in msg
    assert "did you mean 'owner'" in msg


def test_a_wrong_value_names_the_rule() -> None:
    with pytest.raises(ConfigError, match=r"modelyard.yaml:3: .*latency_p99_ms.*greater than 0"):
        parse_project("models:\n  m:\n    sla: {latency_p99_ms: -1}\n", "modelyard.yaml")


def test_invalid_yaml_and_bad_names_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_project("models: [\n")
    with pytest.raises(ConfigError, match="invalid name 'bad name'"):
        parse_project("models:\n  bad name: {}\n")


def test_defaults_need_no_configuration(tmp_path: Path) -> None:
    cfg = parse_project("name: x\n")
    s = Settings.resolve(tmp_path, cfg, env={})
    assert s.store_url.startswith("sqlite:///") and s.store_url.endswith("metadata.db")
    assert s.artifact_url.endswith("artifacts") and s.encryption_key is None


def test_encryption_keys_are_checked_once_at_the_boundary(tmp_path: Path) -> None:
    cfg = parse_project("name: x\n")
    with pytest.raises(ConfigError, match="expected 32 bytes"):
        Settings.resolve(tmp_path, cfg, env={"MODELYARD_ENCRYPTION_KEY": "c2hvcnQ="})
    with pytest.raises(ConfigError, match="not valid base64"):
        Settings.resolve(tmp_path, cfg, env={"MODELYARD_ENCRYPTION_KEY": "***"})


@pytest.mark.parametrize(
    ("text", "name", "version"), [("m", "m", None), ("m@3", "m", 3), ("m@latest", "m", None)]
)
def test_references_parse(text: str, name: str, version: int | None) -> None:
    ref = parse_ref(text)
    assert (ref.name, ref.version) == (name, version)


@pytest.mark.parametrize("text", ["@1", "m@", "m@x", "m@0"])
def test_bad_references_say_what_was_expected(text: str) -> None:
    with pytest.raises(InvalidInput, match=r"NAME@VERSION|positive integer|start at 1"):
        parse_ref(text)
