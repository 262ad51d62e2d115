"""Opening is explicit: constructing a Registry or a MetadataStore touches nothing, ``open``
makes it ready, and the value types stay importable from the registry module."""

from __future__ import annotations

from pathlib import Path

from modelyard.core.project import load_project
from modelyard.core.settings import Settings
from modelyard.registry.registry import Registry


def test_constructing_a_registry_stores_its_arguments_and_opening_makes_it_ready(
    project_dir: Path, tmp_path: Path
) -> None:
    Registry.init(project_dir, env={"MODELYARD_USER": "tester"}, identity="os").close()
    db = tmp_path / "elsewhere" / "meta.db"
    env = {"MODELYARD_USER": "tester", "MODELYARD_STORE_URL": f"sqlite:///{db}"}
    config = load_project(project_dir)
    reg = Registry(Settings.resolve(project_dir, config, env), config)
    assert not db.parent.exists(), "the constructor opens nothing"
    assert reg.connect() is reg
    try:
        assert db.exists()
        policy = reg.store.chain.entries(action="project.policy")
        assert [e.reason for e in policy] == ["project file first seen"]
        assert reg.datasets() == []
    finally:
        reg.close()
    with Registry.open(project_dir, env) as again:
        assert len(again.store.chain.entries(action="project.policy")) == 1, "seen once"


def test_the_value_types_are_importable_from_their_old_home() -> None:
    from modelyard.core import records
    from modelyard.registry.registry import DatasetVersion, ModelVersion

    assert (DatasetVersion, ModelVersion) == (records.DatasetVersion, records.ModelVersion)


def test_the_training_run_module_does_not_import_the_registry_facade() -> None:
    import ast

    import modelyard.registry.runs as runs

    tree = ast.parse(Path(runs.__file__).read_text())
    imported = {
        n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module is not None
    }
    assert "modelyard.registry.registry" not in imported
