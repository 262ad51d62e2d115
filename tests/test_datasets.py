"""Dataset versions: content hashes independent of chunking and format, schema, profile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.core.errors import ConfigError, InvalidInput, NotFound
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
            "c": rng.choice(["a", "b", None], size=n),
        }
    )
    whole = content_hash(canonicalise(df))
    rejoined = pd.concat([df.iloc[i : i + chunk] for i in range(0, n, chunk)])
    assert content_hash(canonicalise(rejoined)) == whole


def test_hash_changes_when_one_value_changes() -> None:
    df = _arrests()
    other = df.copy()
    other.loc[17, "age"] += 1
    assert content_hash(canonicalise(df)) != content_hash(canonicalise(other))


def test_adding_the_same_data_twice_returns_the_same_version(local_registry) -> None:  # type: ignore[no-untyped-def]
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


def test_profile_bins_cover_every_row_and_count_missing(local_registry) -> None:  # type: ignore[no-untyped-def]
    df = _arrests()
    df.loc[:9, "age"] = np.nan
    ds = local_registry.add_dataset(df, name="arrests")
    age = ds.profile["columns"]["age"]
    assert age["missing"] == 10
    assert sum(age["counts"]) == len(df) - 10
    assert len(age["counts"]) == len(age["edges"]) + 1
    assert sum(ds.profile["columns"]["colour"]["counts"].values()) == len(df)


def test_stored_data_round_trips(local_registry) -> None:  # type: ignore[no-untyped-def]
    df = _arrests()
    ds = local_registry.add_dataset(df, name="arrests")
    back = local_registry.load_dataset("arrests@1")
    assert content_hash(canonicalise(back)) == ds.digest


def test_unknown_tagged_column_is_a_config_error(project_dir: Path) -> None:
    from modelyard.registry.registry import Registry

    (project_dir / "modelyard.yaml").write_text("datasets:\n  arrests:\n    pii: [ssn]\n")
    with Registry.open(project_dir, env={}) as reg, pytest.raises(ConfigError, match="ssn"):
        reg.add_dataset(_arrests(), name="arrests")


def test_bad_files_are_clear_errors(local_registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "x.xlsx").write_bytes(b"nope")
    with pytest.raises(InvalidInput, match="unsupported format"):
        local_registry.add_dataset(tmp_path / "x.xlsx", name="x")
    with pytest.raises(NotFound, match="no such file"):
        local_registry.add_dataset(tmp_path / "missing.csv", name="x")
    with pytest.raises(NotFound, match="no dataset nope"):
        local_registry.dataset("nope@3")
