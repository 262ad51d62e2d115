"""Schema inference and the baseline profile that monitoring compares live traffic against.

Numeric columns get quantile bin edges (deciles by default) with counts per bin; categorical
columns get category frequencies; every column gets its missing count. PII columns keep only
counts, never their values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from modelyard.core.project import DatasetConfig
from modelyard.registry.tabular import canonical_kind

MAX_CATEGORIES = 50
N_BINS = 10


def tags_of(schema: dict[str, Any]) -> DatasetConfig:
    """The tags a stored schema carries, as the project file would write them."""
    cols = schema.get("columns", [])
    return DatasetConfig(
        target=schema.get("target"),
        pii=tuple(c["name"] for c in cols if c.get("pii")),
        protected=tuple(c["name"] for c in cols if c.get("protected")),
        categorical=tuple(
            c["name"] for c in cols if c.get("categorical") and c.get("forced_categorical")
        ),
    )


def infer_schema(df: pd.DataFrame, config: DatasetConfig) -> dict[str, Any]:
    from modelyard.core.errors import ConfigError

    for tag, cols in (
        ("pii", config.pii),
        ("protected", config.protected),
        ("categorical", config.categorical),
    ):
        unknown = [c for c in cols if c not in df.columns]
        if unknown:
            raise ConfigError(
                f"datasets.*.{tag} names columns that are not in the data: {', '.join(unknown)}",
                hint=f"columns are: {', '.join(map(str, df.columns))}",
            )
    if config.target and config.target not in df.columns:
        raise ConfigError(
            f"datasets.*.target {config.target!r} is not a column of the data",
            hint=f"columns are: {', '.join(map(str, df.columns))}",
        )
    columns = []
    for name in df.columns:
        s = df[name]
        kind = canonical_kind(s)
        col: dict[str, Any] = {
            "name": name,
            "type": kind,
            "nullable": bool(s.isna().any()),
            "pii": name in config.pii,
            "protected": name in config.protected,
            "target": name == config.target,
        }
        nunique = int(s.nunique(dropna=True))
        is_cat = name in config.categorical or (
            kind in ("string", "boolean") and nunique <= MAX_CATEGORIES
        )
        col["categorical"] = bool(is_cat)
        if name in config.categorical:
            col["forced_categorical"] = True
        if is_cat and not col["pii"]:
            col["categories"] = sorted(str(v) for v in s.dropna().unique())
        columns.append(col)
    return {"columns": columns, "target": config.target}


def profile(df: pd.DataFrame, schema: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"n_rows": len(df), "columns": {}}
    for col in schema["columns"]:
        s = df[col["name"]]
        missing = int(s.isna().sum())
        entry: dict[str, Any] = {"missing": missing}
        if col["type"] in ("integer", "float") and not col["categorical"]:
            values = s.dropna().to_numpy(dtype=float)
            entry["kind"] = "numeric"
            if len(values):
                qs = np.quantile(values, np.linspace(0, 1, N_BINS + 1))
                edges = np.unique(qs)
                # counts on the inner edges: bin i holds values in [edge_i, edge_i+1)
                inner = edges[1:-1]
                counts = np.bincount(
                    np.searchsorted(inner, values, side="right"), minlength=len(inner) + 1
                )
                entry.update(
                    edges=[float(e) for e in inner],
                    counts=[int(c) for c in counts],
                    min=float(values.min()),
                    max=float(values.max()),
                    mean=float(values.mean()),
                    std=float(values.std()),
                )
        elif col["type"] == "datetime":
            values = s.dropna()
            entry["kind"] = "datetime"
            if len(values):
                entry.update(min=str(values.min()), max=str(values.max()))
        else:
            entry["kind"] = "categorical"
            entry["cardinality"] = int(s.nunique(dropna=True))
            if not col["pii"]:
                freq = s.dropna().astype(str).value_counts().head(200)
                entry["counts"] = {str(k): int(v) for k, v in freq.items()}
        out["columns"][col["name"]] = entry
    return out
