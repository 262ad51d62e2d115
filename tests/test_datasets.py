"""Dataset versions: content hashes independent of chunking and format, schema, profile."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.core.errors import ConfigError, InvalidInput, NotFound
from modelyard.registry.registry import Registry
from modelyard.registry.tabular import canonicalise, content_hash


def _arrests() -> pd.DataFrame:
    from sklego.datasets import load_arrests

    return pd.DataFrame(load_arrests(as_frame=True))


def test_hash_is_the_same_for_csv_parquet_and_dataframe(tmp_path: Path) -> None:
    df = _arrests()
    df.to_csv(tmp_path / "a.csv", index=False)
    df.to_parquet(tmp_path / "a.parquet", index=False)
    from modelyard.registry.tabular import read_table

    hashes = {
        content_hash(canonicalise(df)),
        content_hash(canonicalise(read_table(tmp_path / "a.csv"))),
        content_hash(canonicalise(read_table(tmp_path / "a.parquet"))),
        content_hash(canonicalise(df.astype({"colour": "category", "sex": "category"}))),
    }
    assert len(hashes) == 1


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=300),
    chunk=st.integers(min_value=1, max_value=300),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_hash_does_not_depend_on_row_chunking(n: int, chunk: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "k": rng.integers(0, 5, size=n),
            "c": rng.choice(np.array(["a", "b", None], dtype=object), size=n),
        }
    )
    whole = content_hash(canonicalise(df))
    rejoined = pd.concat([df.iloc[i : i + chunk] for i in range(0, n, chunk)])
    assert content_hash(canonicalise(rejoined)) == whole


def test_hash_changes_when_one_value_changes() -> None:
    df = _arrests()
    other = df.copy()
    other.loc[other.index == 17, "age"] += 1
    assert content_hash(canonicalise(df)) != content_hash(canonicalise(other))


def test_adding_the_same_data_twice_returns_the_same_version(local_registry: Registry) -> None:
    df = _arrests()
    first = local_registry.add_dataset(df, name="arrests")
    again = local_registry.add_dataset(
        df.sample(frac=1.0, random_state=0).sort_index(), name="arrests"
    )
    changed = local_registry.add_dataset(df.head(100), name="arrests")
    assert first.created and not again.created
    assert again.ref == first.ref == "arrests@1"
    assert changed.ref == "arrests@2"


def test_schema_marks_protected_and_pii_columns_from_the_project_file(project_dir: Path) -> None:
    from modelyard.registry.registry import Registry

    (project_dir / "modelyard.yaml").write_text(
        "datasets:\n  arrests:\n    target: released\n    protected: [colour, sex]\n"
        "    pii: [citizen]\n"
    )
    with Registry.open(project_dir, env={}) as reg:
        ds = reg.add_dataset(_arrests(), name="arrests")
    cols = {c["name"]: c for c in ds.schema["columns"]}
    assert cols["colour"]["protected"] and cols["sex"]["protected"]
    assert cols["citizen"]["pii"] and "categories" not in cols["citizen"]
    assert "counts" not in ds.profile["columns"]["citizen"], "PII values never reach the profile"
    assert cols["released"]["target"] and cols["colour"]["categories"] == ["Black", "White"]
    assert cols["age"]["type"] == "integer" and not cols["age"]["nullable"]


def test_profile_bins_cover_every_row_and_count_missing(local_registry: Registry) -> None:
    df = _arrests()
    df.loc[:9, "age"] = np.nan
    ds = local_registry.add_dataset(df, name="arrests")
    age = ds.profile["columns"]["age"]
    assert age["missing"] == 10
    assert sum(age["counts"]) == len(df) - 10
    assert len(age["counts"]) == len(age["edges"]) + 1
    assert sum(ds.profile["columns"]["colour"]["counts"].values()) == len(df)


def test_stored_data_round_trips(local_registry: Registry) -> None:
    df = _arrests()
    ds = local_registry.add_dataset(df, name="arrests")
    back = local_registry.load_dataset("arrests@1")
    assert content_hash(canonicalise(back)) == ds.digest


def test_unknown_tagged_column_is_a_config_error(project_dir: Path) -> None:
    from modelyard.registry.registry import Registry

    (project_dir / "modelyard.yaml").write_text("datasets:\n  arrests:\n    pii: [ssn]\n")
    with Registry.open(project_dir, env={}) as reg, pytest.raises(ConfigError, match="ssn"):
        reg.add_dataset(_arrests(), name="arrests")


def test_bad_files_are_clear_errors(local_registry: Registry, tmp_path: Path) -> None:
    (tmp_path / "x.xlsx").write_bytes(b"nope")
    with pytest.raises(InvalidInput, match="unsupported format"):
        local_registry.add_dataset(tmp_path / "x.xlsx", name="x")
    with pytest.raises(NotFound, match="no such file"):
        local_registry.add_dataset(tmp_path / "missing.csv", name="x")
    with pytest.raises(NotFound, match="no dataset nope"):
        local_registry.dataset("nope@3")


def test_the_readme_tour_order_tags_data_after_registration_without_changing_its_content(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """init → data add → write the tags into modelyard.yaml → tag: the tags apply, the digest
    stays, the change is audited; the README's `datasets: arrests:` entry covers arrests-eval."""
    from sklego.datasets import load_arrests

    from modelyard.registry.registry import Registry
    from tests.support.cli import run_main

    env = {"MODELYARD_USER": "alice"}
    arrests = pd.DataFrame(load_arrests(as_frame=True))
    train, evaluation = tmp_path / "arrests-train.csv", tmp_path / "arrests-eval.csv"
    arrests.iloc[:4000].to_csv(train, index=False)
    arrests.iloc[4000:].to_csv(evaluation, index=False)
    root = tmp_path / "proj"

    def cli(*args: str) -> Any:
        return run_main(capsys, monkeypatch, *args, env=env)

    assert cli("init", str(root), "--identity", "os").returncode == 0
    added = cli("data", "add", str(train), "--name", "arrests-train", "-p", str(root), "--json")
    assert added.returncode == 0, added.stderr
    digest = json.loads(added.stdout)["digest"]
    with (root / "modelyard.yaml").open("a") as f:  # the README's entry, after the fact
        f.write("datasets:\n  arrests:\n    target: released\n    protected: [colour, sex, age]\n")
    text = (root / "modelyard.yaml").read_text().replace("datasets: {}\n", "")
    (root / "modelyard.yaml").write_text(text)

    again = cli("data", "add", str(train), "--name", "arrests-train", "-p", str(root))
    assert again.returncode == 0 and "data tag arrests-train@1 --from-project" in again.stderr
    tagged = cli("data", "tag", "arrests-train@1", "--from-project", "-p", str(root), "--json")
    assert tagged.returncode == 0, tagged.stderr
    doc = json.loads(tagged.stdout)
    assert doc["digest"] == digest and doc["schema"]["target"] == "released"
    protected = {c["name"] for c in doc["schema"]["columns"] if c["protected"]}
    assert protected == {"colour", "sex", "age"}
    # a new dataset in the family gets the entry's tags when it is added
    ev = cli("data", "add", str(evaluation), "--name", "arrests-eval", "-p", str(root), "--json")
    assert json.loads(ev.stdout)["created"] is True
    overridden = cli(
        "data", "tag", "arrests-eval@1", "--protected", "sex", "-p", str(root), "--json"
    )
    schema = json.loads(overridden.stdout)["schema"]
    assert schema["target"] == "released"
    assert [c["name"] for c in schema["columns"] if c["protected"]] == ["sex"]
    bad = cli("data", "tag", "arrests-eval@1", "--protected", "colr", "-p", str(root))
    assert bad.returncode == 2 and "colr" in bad.stderr
    assert cli("data", "tag", "arrests-eval@1", "-p", str(root)).returncode == 2

    with Registry.open(root, env=env) as reg:
        entries = reg.store.chain.entries(action="dataset.tag")
        assert reg.dataset("arrests-train@1").digest == digest
    assert [e.target for e in entries] == ["dataset:arrests-train@1", "dataset:arrests-eval@1"]
    assert all(e.actor == "alice" for e in entries)


def test_a_datasets_entry_covers_names_that_extend_it_and_the_longest_entry_wins() -> None:
    from modelyard.core.project import parse_project

    config = parse_project(
        "datasets:\n  arrests: {target: released}\n  arrests-eval: {target: other}\n"
        "  flights: {target: late}\n"
    )
    assert config.dataset("arrests").target == "released"
    assert config.dataset("arrests-train").target == "released"
    assert config.dataset("arrests.2024").target == "released"
    assert config.dataset("arrests-eval").target == "other"
    assert config.dataset("arrests-eval-v2").target == "other"
    assert config.dataset("arrestsx").target is None  # not after a separator
    assert config.dataset("flight").target is None
