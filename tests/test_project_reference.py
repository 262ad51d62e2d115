"""The project-file reference in docs/ is generated from the schema and kept in step with it."""

from __future__ import annotations

from pathlib import Path

from modelyard.core.project import ProjectConfig
from modelyard.core.project_docs import reference

DOC = Path(__file__).parents[1] / "docs" / "project-file.md"


def test_the_reference_in_docs_is_what_the_schema_generates() -> None:
    assert DOC.read_text() == reference(), (
        "docs/project-file.md is stale: run "
        "`.venv/bin/python -m modelyard.core.project_docs > docs/project-file.md`"
    )


def test_every_top_level_key_of_the_project_file_is_documented() -> None:
    text = reference()
    for key in ProjectConfig.model_fields:
        assert f"| `{key}` |" in text


def test_nested_sections_are_linked_from_the_field_that_holds_them() -> None:
    text = reference()
    assert "[MonitoringConfig](#monitoringconfig)" in text
    assert "## MonitoringConfig" in text
    assert "## AlertRule" in text
