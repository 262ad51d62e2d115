"""The project-file reference, generated from the schema itself (``docs/project-file.md``).

Every key of ``modelyard.yaml`` is a field of a pydantic model in ``core``; this walks them and
writes one table per section, so the reference cannot drift from what the parser accepts (a test
compares the file with this output). Regenerate with::

    python -m modelyard.core.project_docs > docs/project-file.md
"""

from __future__ import annotations

import json
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from modelyard.core.project import ProjectConfig

HEADER = """\
# The project file: `modelyard.yaml`

Generated from the schema (`python -m modelyard.core.project_docs > docs/project-file.md`); a test
keeps it in step with the code. Unknown keys are rejected with the file, line and a suggestion.
Names under `models:`, `datasets:`, `endpoints:` and `playbooks:` are free (letters, digits, `-`,
`_`, `.`); each maps to the section of that type below.
"""


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """Pydantic models reachable from a field's annotation (inside dicts, tuples, unions)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        out.extend(_models_in(arg))
    return out


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    if origin is typing.Literal:
        return " \\| ".join(json.dumps(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in args)
    if origin is dict:
        return f"mapping of name → {_type_name(args[1])}"
    if origin is tuple:
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if isinstance(annotation, type):
        return {"str": "text", "int": "integer", "float": "number", "bool": "boolean"}.get(
            annotation.__name__, annotation.__name__
        )
    return str(annotation).replace("typing.", "")


def _default(field: FieldInfo) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "*required*"
    factory = field.default_factory
    value = factory() if factory is not None else field.default  # type: ignore[call-arg]
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", exclude_defaults=True) or "{}"
        return f"`{value}`" if value != "{}" else "(defaults below)"
    if isinstance(value, tuple):
        value = list(value)
        if value and isinstance(value[0], BaseModel):
            value = [v.model_dump(mode="json", exclude_defaults=True) for v in value]
    if value is None:
        return "—"
    return f"`{json.dumps(value, default=str)}`"


def _summary(annotation: Any) -> str:
    """A nested section's first docstring line, for fields without their own description."""
    for model in _models_in(annotation):
        doc = (model.__doc__ or "").strip()
        if doc and not doc.startswith(("Usage docs", "A base class")):
            return doc.split("\n\n")[0].replace("\n", " ")
    return ""


def _section(model: type[BaseModel]) -> list[str]:
    doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    lines = [f"## {model.__name__}", ""]
    if doc and not doc.startswith(("Usage docs", "A base class")):
        lines += [doc, ""]
    lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        desc = field.description or _summary(field.annotation)
        desc = desc.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{name}` | {_type_name(field.annotation)} | {_default(field)} | {desc} |")
    return [*lines, ""]


def reference() -> str:
    seen: list[type[BaseModel]] = []
    queue: list[type[BaseModel]] = [ProjectConfig]
    while queue:
        model = queue.pop(0)
        if model in seen:
            continue
        seen.append(model)
        for field in model.model_fields.values():
            queue.extend(m for m in _models_in(field.annotation) if m not in seen)
    body = [HEADER]
    for model in seen:
        body.extend(_section(model))
    return "\n".join(body).rstrip() + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(reference(), end="")
