"""docs/gates.md names every policy key, so the reference cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from modelyard.core.gate_policy import CHECK_ORDER, METRICS, GatePolicy, SegmentPolicy

DOC = (Path(__file__).resolve().parents[2] / "docs" / "gates.md").read_text(encoding="utf-8")


def test_every_policy_key_is_documented() -> None:
    missing = []
    for name, field in GatePolicy.model_fields.items():
        if f"`{name}`" not in DOC:
            missing.append(name)
        section = field.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            missing += [f"{name}.{k}" for k in section.model_fields if f"`{k}`" not in DOC]
    missing += [f"segments.{k}" for k in SegmentPolicy.model_fields if f"`{k}`" not in DOC]
    assert not missing, f"undocumented policy keys: {missing}"


def test_every_check_and_metric_is_documented() -> None:
    assert [c for c in CHECK_ORDER if f"(`{c}`)" not in DOC] == []
    assert [m for m in METRICS if f"`{m}`" not in DOC] == []
