"""A structural schema of KServe's ``serving.kserve.io/v1beta1`` resources, extracted from the
KServe Python SDK wheel, and a validator for our generated ``InferenceService``.

The SDK's ``kserve/models/*.py`` are generated from the KServe CRD OpenAPI: every model class
holds ``openapi_types`` (attribute -> type string such as ``'V1beta1PredictorSpec'``,
``'list[V1Container]'``, ``'dict(str, str)'``, ``'int'``) and ``attribute_map`` (attribute ->
JSON key), and its setters raise when a required attribute is ``None``. We read those with
``ast`` from the wheel (the SDK is neither installed nor imported) and keep the result in the
repository, ``tests/support/data/kserve-<version>-v1beta1.json``, with the wheel's SHA-256: the
tests never download anything. The SDK cannot be a dev dependency instead: its pins would
downgrade pandas and protobuf for the whole environment. To move to another KServe release:

    python -m tests.support.kserve_schema --regenerate 0.22.0   # downloads the wheel with pip

Kubernetes types that KServe embeds (``V1Container``, ``V1Volume``, ``V1ObjectMeta``, ...) are
checked against the strict core/v1 JSON schema bundled with ``kubernetes_validate``.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate.utils as kv
from referencing import Registry, Resource

KSERVE_VERSION = "0.21.0"
DATA_DIR = Path(__file__).parent / "data"
API_VERSION = "serving.kserve.io/v1beta1"
_DEFS_URI = "https://kubernetes.io/api/_definitions.json"
# SDK names of Kubernetes types that do not follow ``V1<Kind>`` -> ``io.k8s.*.v1.<Kind>``.
_K8S_ALIASES = {"ResourceQuantity": "io.k8s.apimachinery.pkg.api.resource.Quantity"}
_SDK_MODEL = re.compile(r"^(V1(alpha|beta)\d|Knative|NetUrl)")
_LIST = re.compile(r"^list\[(.+)\]$")
_DICT = re.compile(r"^dict\(str, (.+)\)$")
_SCALARS: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "datetime": (str,),
    "date": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
}


class KServeSchemaError(ValueError):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class Model:
    """One SDK model class: JSON key -> declared type, and the JSON keys that are required."""

    name: str
    fields: dict[str, str]
    required: frozenset[str]


def _required_attrs(cls: ast.ClassDef) -> set[str]:
    """Attributes whose generated setter raises ``ValueError`` on ``None``."""
    required = set()
    for fn in cls.body:
        if not isinstance(fn, ast.FunctionDef):
            continue
        if not any(isinstance(d, ast.Attribute) and d.attr == "setter" for d in fn.decorator_list):
            continue
        for node in ast.walk(fn):
            if not (isinstance(node, ast.If) and isinstance(node.body[0], ast.Raise)):
                continue
            for cmp in ast.walk(node.test):
                if (
                    isinstance(cmp, ast.Compare)
                    and isinstance(cmp.left, ast.Name)
                    and cmp.left.id == fn.name
                    and isinstance(cmp.ops[0], ast.Is)
                    and isinstance(cmp.comparators[0], ast.Constant)
                    and cmp.comparators[0].value is None
                ):
                    required.add(fn.name)
    return required


def load_models(wheel: Path) -> dict[str, Model]:
    """Every model class of ``kserve/models/`` in the wheel, by class name."""
    models: dict[str, Model] = {}
    with zipfile.ZipFile(wheel) as zf:
        for member in zf.namelist():
            if not (member.startswith("kserve/models/") and member.endswith(".py")):
                continue
            for cls in ast.parse(zf.read(member)).body:
                if not isinstance(cls, ast.ClassDef):
                    continue
                found: dict[str, dict[str, str]] = {}
                for stmt in cls.body:
                    if (
                        isinstance(stmt, ast.Assign)
                        and isinstance(stmt.targets[0], ast.Name)
                        and stmt.targets[0].id in ("openapi_types", "attribute_map")
                    ):
                        found[stmt.targets[0].id] = ast.literal_eval(stmt.value)
                if len(found) != 2:
                    continue
                types, keys = found["openapi_types"], found["attribute_map"]
                if set(types) != set(keys):
                    raise ValueError(f"{member}: openapi_types and attribute_map disagree")
                models[cls.name] = Model(
                    cls.name,
                    {keys[attr]: t for attr, t in types.items()},
                    frozenset(keys[attr] for attr in _required_attrs(cls)),
                )
    if "V1beta1InferenceService" not in models:
        raise ValueError(f"{wheel.name} holds no V1beta1InferenceService model")
    return models


def extract_path(version: str = KSERVE_VERSION) -> Path:
    return DATA_DIR / f"kserve-{version}-v1beta1.json"


def write_extract(wheel: Path, version: str) -> Path:
    """The models of ``wheel`` as JSON in the repository (sorted, so a diff shows what changed)."""
    models = load_models(wheel)
    doc = {
        "source": f"kserve/models/*.py of {wheel.name} (PyPI), read with ast",
        "kserve_version": version,
        "wheel_sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
        "models": {
            name: {"fields": dict(sorted(m.fields.items())), "required": sorted(m.required)}
            for name, m in sorted(models.items())
        },
    }
    out = extract_path(version)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, out)
    return out


def read_extract(version: str = KSERVE_VERSION) -> dict[str, Model]:
    """The SDK's models for ``version`` from the extract kept in the repository."""
    doc = json.loads(extract_path(version).read_text())
    if doc["kserve_version"] != version:
        raise ValueError(f"{extract_path(version)} is for KServe {doc['kserve_version']}")
    return {
        name: Model(name, dict(m["fields"]), frozenset(m["required"]))
        for name, m in doc["models"].items()
    }


def _regenerate(version: str) -> None:
    """Download the SDK wheel of ``version`` with pip (a developer's step, never a test's) and
    write its extract."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", f"kserve=={version}", "--no-deps"]
        subprocess.run([*cmd, "-d", tmp], check=True)
        (wheel,) = Path(tmp).glob(f"kserve-{version}-*.whl")
        print(write_extract(wheel, version))


@cache
def _k8s_definitions(k8s_version: str) -> dict[str, Any]:
    if k8s_version not in kv.all_versions():
        raise ValueError(f"kubernetes_validate has no schemas for Kubernetes {k8s_version}")
    path = f"kubernetes-json-schema/v{k8s_version}-local-strict/_definitions.json"
    defs: dict[str, Any] = kv.schema_contents(path, k8s_version)
    return defs


class KServeSchema:
    """Validates ``serving.kserve.io/v1beta1`` documents against the SDK's models, with the
    Kubernetes types they embed checked against core/v1 of ``k8s_version`` (strict)."""

    def __init__(self, models: dict[str, Model], k8s_version: str) -> None:
        self.models = models
        self.k8s_version = k8s_version
        self._defs = _k8s_definitions(k8s_version)
        self._registry: Registry[Any] = Resource.from_contents(self._defs) @ Registry()
        self._validators: dict[str, Any] = {}

    def errors(self, doc: Any) -> list[str]:
        """Every problem in the InferenceService ``doc``, each naming its path."""
        out: list[str] = []
        if not isinstance(doc, dict):
            return [f"<root>: expected an object, got {type(doc).__name__}"]
        if doc.get("apiVersion") != API_VERSION:
            out.append(f"apiVersion: expected {API_VERSION!r}, got {doc.get('apiVersion')!r}")
        if doc.get("kind") != "InferenceService":
            out.append(f"kind: expected 'InferenceService', got {doc.get('kind')!r}")
        self._check(doc, "V1beta1InferenceService", "", out)
        return out

    def validate(self, doc: Any) -> None:
        problems = self.errors(doc)
        if problems:
            raise KServeSchemaError(problems)

    def _check(self, value: Any, typ: str, path: str, out: list[str]) -> None:
        where = path or "<root>"
        if value is None:
            out.append(f"{where}: null where {typ} is expected")
        elif typ == "object":
            return
        elif typ in _SCALARS:
            allowed = _SCALARS[typ]
            if (isinstance(value, bool) and bool not in allowed) or not isinstance(value, allowed):
                out.append(f"{where}: expected {typ}, got {type(value).__name__} {value!r}")
        elif m := _LIST.match(typ):
            if not isinstance(value, list):
                out.append(f"{where}: expected {typ}, got {type(value).__name__}")
                return
            for i, item in enumerate(value):
                self._check(item, m.group(1), f"{path}[{i}]", out)
        elif m := _DICT.match(typ):
            if not isinstance(value, dict):
                out.append(f"{where}: expected {typ}, got {type(value).__name__}")
                return
            for key, item in value.items():
                if not isinstance(key, str):
                    out.append(f"{where}: key {key!r} is not a string")
                self._check(item, m.group(1), f"{path}[{key!r}]", out)
        elif _SDK_MODEL.match(typ) and typ in self.models:
            self._check_model(value, self.models[typ], path, out)
        elif (definition := self._k8s_name(typ)) is not None:
            self._check_k8s(value, definition, path, out)
        else:
            out.append(f"{where}: no schema known for type {typ}")

    def _check_model(self, value: Any, model: Model, path: str, out: list[str]) -> None:
        where = path or "<root>"
        if not isinstance(value, dict):
            out.append(f"{where}: expected a {model.name} object, got {type(value).__name__}")
            return
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            if key not in model.fields:
                out.append(f"{sub}: unknown field of {model.name}")
            else:
                self._check(item, model.fields[key], sub, out)
        for key in sorted(model.required - value.keys()):
            out.append(f"{where}: missing required field {key!r} of {model.name}")

    def _k8s_name(self, typ: str) -> str | None:
        defs = self._defs["$defs"]
        if typ in _K8S_ALIASES:
            return _K8S_ALIASES[typ]
        if m := re.fullmatch(r"V1([A-Z]\w*)", typ):
            for prefix in ("io.k8s.api.core.v1.", "io.k8s.apimachinery.pkg.apis.meta.v1."):
                if prefix + m.group(1) in defs:
                    return prefix + m.group(1)
        if typ.startswith("K8sIo"):  # e.g. K8sIoApiAppsV1DeploymentStrategy
            flat = ("iok8s" + typ[len("K8sIo") :]).lower()
            hits = [name for name in defs if name.replace(".", "").lower() == flat]
            if len(hits) == 1:
                return str(hits[0])
        return None

    def _check_k8s(self, value: Any, definition: str, path: str, out: list[str]) -> None:
        validator = self._validators.get(definition)
        if validator is None:
            schema = {"$ref": f"{_DEFS_URI}#/$defs/{definition}"}
            validator = jsonschema.Draft202012Validator(schema, registry=self._registry)
            self._validators[definition] = validator
        for err in validator.iter_errors(value):
            sub = path
            for part in err.absolute_path:
                sub += f"[{part}]" if isinstance(part, int) else f".{part}"
            out.append(f"{sub or '<root>'}: {err.message} (Kubernetes {definition})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--regenerate", metavar="VERSION", required=True)
    _regenerate(parser.parse_args().regenerate)
