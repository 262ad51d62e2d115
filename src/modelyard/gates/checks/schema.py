"""Schema: the evaluation data and the model's signature agree on columns, types, categories."""

from __future__ import annotations

import dataclasses
from typing import Any

from modelyard.core.gate_policy import SchemaPolicy
from modelyard.gates.base import CheckResult, at_most, skipped, verdict
from modelyard.gates.context import GateContext
from modelyard.registry.tabular import canonical_kind

# a column of the left kind may feed an input declared as the right kind
_COMPATIBLE = {("integer", "float"), ("boolean", "integer")}


class SchemaCheck:
    name = "schema"

    def __init__(self, config: SchemaPolicy | None = None) -> None:
        self.config = config or SchemaPolicy()

    def run(self, ctx: GateContext) -> CheckResult:
        inputs = (ctx.signature or {}).get("inputs") or []
        if not inputs:
            return skipped(self.name, "the model version has no signature to compare against")
        frame = ctx.frame
        handles = ctx.input_policy.unseen_categories if ctx.input_policy else "reject"
        rows: list[dict[str, Any]] = []
        missing, mismatched, unseen, nulls = [], [], [], []
        for col in inputs:
            name = col["name"]
            row: dict[str, Any] = {"column": name, "expected": col.get("type"), "actual": None}
            row["issues"] = []
            if name not in frame.columns:
                missing.append(name)
                row["actual"] = "—"
                row["issues"].append("missing from the evaluation data")
                rows.append(row)
                continue
            s = frame[name]
            actual = canonical_kind(s)
            row["actual"] = actual
            expected = col.get("type")
            if expected and actual != expected and (actual, expected) not in _COMPATIBLE:
                mismatched.append(name)
                row["issues"].append(f"type {actual}, signature expects {expected}")
            if not col.get("nullable", True) and s.isna().any():
                nulls.append(name)
                row["issues"].append(f"{int(s.isna().sum())} missing values; not nullable")
            cats = col.get("categories")
            if self.config.check_categories and cats:
                new = sorted({str(v) for v in s.dropna().unique()} - {str(c) for c in cats})
                if new:
                    unseen.append(name)
                    row["issues"].append(f"unseen categories: {', '.join(new[:10])}")
            rows.append(row)
        expected_names = {c["name"] for c in inputs}
        extra = [str(c) for c in frame.columns if c not in expected_names and c != ctx.target]
        figures = [
            at_most("missing columns", len(missing), 0, note=", ".join(missing) or None),
            at_most("type mismatches", len(mismatched), 0, note=", ".join(mismatched) or None),
            at_most("nulls in non-nullable columns", len(nulls), 0, note=", ".join(nulls) or None),
            at_most(
                "columns with unseen categories",
                len(unseen),
                0 if self.config.check_categories and handles == "reject" else None,
                note="; ".join(
                    x
                    for x in (
                        ", ".join(unseen),
                        f"the model's policy is {handles}: the server "
                        + (
                            "hands them to the model"
                            if handles == "pass"
                            else "treats them as missing"
                        )
                        if handles != "reject"
                        else "",
                    )
                    if x
                )
                or None,
            ),
            at_most(
                "extra columns (ignored)" if self.config.allow_extra_columns else "extra columns",
                len(extra),
                None if self.config.allow_extra_columns else 0,
                note=", ".join(extra) or None,
            ),
        ]
        return verdict(
            self.name,
            figures,
            self.config.severity,
            passed_message=f"{len(inputs)} input columns agree with the signature",
            details={
                "columns": rows,
                "extra_columns": extra,
                "input_policy": dataclasses.asdict(ctx.input_policy) if ctx.input_policy else None,
            },
        )
