"""The project file (``modelyard.yaml``): declarative, validated once at the boundary.

Errors name the file, the key path, the line and what was expected, so a typo is fixed in
seconds. Services receive a validated :class:`ProjectConfig` and trust it.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from modelyard.core.audit_config import AuditConfig
from modelyard.core.endpoint_config import EndpointConfig
from modelyard.core.errors import ConfigError
from modelyard.core.gate_policy import GatePolicy
from modelyard.core.governance import GovernanceConfig
from modelyard.core.http_config import HttpLimits
from modelyard.core.kube_config import KubernetesConfig
from modelyard.core.monitor_config import MonitoringConfig, PlaybookConfig
from modelyard.core.rollout_config import RolloutPolicy
from modelyard.core.serving_config import ServingConfig
from modelyard.core.webhooks import WebhooksConfig, config_problems

PROJECT_FILE = "modelyard.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SLA(_Strict):
    latency_p99_ms: float = Field(default=100.0, gt=0, description="p99 latency budget in ms")
    availability: float = Field(default=0.999, gt=0, le=1, description="target availability")
    escalation: str | None = Field(default=None, description="who is paged when the SLA breaks")


class InputPolicy(_Strict):
    unseen_categories: Literal["reject", "pass", "as_missing"] | None = Field(
        default=None,
        description="a category the training data never had: refuse the request (422), hand "
        "it to the model, or treat it as missing (default: inferred from the pipeline — pass "
        "when every encoder handles unknown values, else reject)",
    )
    extra_fields: Literal["reject", "ignore"] | None = Field(
        default=None, description="fields outside the signature: refuse (default) or drop"
    )


class ModelConfig(_Strict):
    owner: str | None = Field(default=None, description="team or person accountable")
    objective: str | None = Field(default=None, description="the business objective it serves")
    kpi: str | None = Field(default=None, description="the KPI the objective is measured by")
    task: Literal["classification", "regression"] | None = Field(
        default=None, description="inferred from the model when not set"
    )
    sla: SLA = Field(default_factory=SLA, description="latency and availability targets")
    train: str | None = Field(
        default=None, description="training entrypoint module:function (reproducibility gate)"
    )
    gates: GatePolicy = Field(default_factory=GatePolicy, description="release-gate policy")
    rollout: RolloutPolicy = Field(
        default_factory=RolloutPolicy, description="canary steps and automated analysis"
    )
    inputs: InputPolicy = Field(
        default_factory=InputPolicy,
        description="how server, gates and monitoring treat unseen categories and extra fields",
    )


class DatasetConfig(_Strict):
    target: str | None = Field(default=None, description="label column")
    pii: tuple[str, ...] = Field(default=(), description="columns holding personal data")
    protected: tuple[str, ...] = Field(default=(), description="protected attributes (fairness)")
    categorical: tuple[str, ...] = Field(default=(), description="force columns categorical")


class StoreConfig(_Strict):
    url: str | None = Field(
        default=None, description="metadata URL (sqlite:///… or postgresql://…)"
    )
    artifacts: str | None = Field(default=None, description="artifact location (folder or s3://)")


class ProjectConfig(_Strict):
    name: str = Field(default="modelyard-project", description="project name (audit, UI)")
    store: StoreConfig = Field(default_factory=StoreConfig, description="where metadata lives")
    models: dict[str, ModelConfig] = Field(
        default_factory=dict, description="owners, objectives, SLAs, gates, rollout policy"
    )
    datasets: dict[str, DatasetConfig] = Field(
        default_factory=dict,
        description="targets and PII / protected / categorical tags; an entry also covers "
        "names extending it after - _ or . (arrests → arrests-eval)",
    )
    endpoints: dict[str, EndpointConfig] = Field(
        default_factory=dict, description="routing, batching, caching, throttling, logging"
    )
    serving: ServingConfig = Field(
        default_factory=ServingConfig,
        description="authentication on inference, `/metrics` and model status",
    )
    governance: GovernanceConfig = Field(
        default_factory=GovernanceConfig, description="approval policy"
    )
    audit: AuditConfig = Field(
        default_factory=AuditConfig, description="checkpoints of the audit chain (anchors)"
    )
    identity: Literal["account", "os"] = Field(
        default="account",
        description="who acts locally: the OS account (account), or, for one-person projects, "
        "whatever name MODELYARD_USER gives (os; recorded as an override)",
    )
    kubernetes: KubernetesConfig = Field(
        default_factory=KubernetesConfig, description="what `modelyard k8s` writes"
    )
    monitoring: MonitoringConfig = Field(
        default_factory=MonitoringConfig, description="live windows, drift, alerts, review"
    )
    playbooks: dict[str, PlaybookConfig] = Field(
        default_factory=dict, description="alert conditions mapped to remediation actions"
    )
    webhooks: WebhooksConfig = Field(
        default_factory=WebhooksConfig,
        description="which addresses alert and playbook webhooks may reach",
    )
    http: HttpLimits = Field(
        default_factory=HttpLimits, description="request-body size limits and read deadline"
    )

    @field_validator("models", "datasets", "endpoints", "playbooks")
    @classmethod
    def _names_are_identifiers(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            validate_name(key, "name")
        return value

    def model(self, name: str) -> ModelConfig:
        return self.models.get(name) or ModelConfig()

    def dataset(self, name: str) -> DatasetConfig:
        """The tags for dataset ``name``: its own entry, else the longest entry that ``name``
        extends after a ``-``, ``_`` or ``.`` (``arrests`` applies to ``arrests-train`` and
        ``arrests-eval``), else none."""
        return self.datasets.get(name) or self._family(name, self.datasets) or DatasetConfig()

    @staticmethod
    def _family(name: str, entries: dict[str, DatasetConfig]) -> DatasetConfig | None:
        keys = [k for k in entries if len(name) > len(k) and name.startswith(k)]
        keys = [k for k in keys if name[len(k)] in "-_."]
        return entries[max(keys, key=len)] if keys else None


def validate_name(value: str, what: str) -> str:
    """Names of models, datasets and endpoints: letters, digits, ``-``, ``_``, ``.``."""
    ok = bool(value) and len(value) <= 128 and value[0].isalnum()
    ok = ok and all(c.isalnum() or c in "-_." for c in value)
    if not ok:
        raise ConfigError(
            f"invalid {what} {value!r}: expected 1-128 characters, letters, digits, '-', '_' "
            "or '.', starting with a letter or digit"
        )
    return value


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """Walk the YAML node tree along a pydantic error location to find its line."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if k.value == part:
                    nxt = v
                    line = k.start_mark.line + 1
                    break
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if part < len(node.value) else None
            line = node.start_mark.line + 1 if node is not None else line
        else:
            break
    return line


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    current: Any = model
    for part in loc[:-1]:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
        else:
            # dict[str, X]: the key is a free name, step into X
            args = getattr(current, "__args__", ())
            current = args[-1] if args else None
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(current.model_fields)
    return []


def parse_project(text: str, source: str = PROJECT_FILE) -> ProjectConfig:
    """Parse and validate project-file text; raise ConfigError naming file, key and line."""
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: expected a mapping at the top level, got {type(data).__name__}"
        )
    try:
        config = ProjectConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                allowed = _allowed_keys(ProjectConfig, loc)
                close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
                msg = f"unknown key; allowed keys: {', '.join(allowed)}"
                if close:
                    msg += f" (did you mean {close[0]!r}?)"
            problems.append(_problem(source, node, loc, msg))
        raise ConfigError(
            "invalid project file:\n  " + "\n  ".join(problems), file=source
        ) from None
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc.message}") from None
    refused = [_problem(source, node, loc, msg) for loc, msg in config_problems(config)]
    if refused:
        raise ConfigError("invalid project file:\n  " + "\n  ".join(refused), file=source) from None
    return config


def _problem(source: str, node: yaml.Node | None, loc: tuple[Any, ...], msg: str) -> str:
    key = ".".join(str(p) for p in loc) or "(top level)"
    line = _line_of(node, loc)
    where = f"{source}:{line}" if line else source
    return f"{where}: {key}: {msg}"


def load_project(path: Path) -> ProjectConfig:
    file = path / PROJECT_FILE if path.is_dir() else path
    if not file.exists():
        raise ConfigError(f"no project file at {file}", hint="run `modelyard init` to create one")
    return parse_project(file.read_text(encoding="utf-8"), str(file))


DEFAULT_PROJECT = """\
# modelyard project file: models, their objectives and SLAs, datasets and their tags.
name: {name}
store: {{}}
  # url: postgresql://user@host/db      # default: SQLite in .modelyard/
  # artifacts: s3://bucket/prefix        # default: .modelyard/artifacts
models: {{}}
datasets: {{}}
"""

# `modelyard init --identity os`: a one-person project, where MODELYARD_USER names the actor
IDENTITY_LINE = """\
# who acts: the OS account (account), or the name in MODELYARD_USER (os: one-person projects)
identity: {identity}
"""

# What `modelyard init` writes for a team project: approval before production by someone other
# than the author (four eyes). The Python API's bare default stays permissive for notebooks.
GOVERNED_PROJECT = (
    DEFAULT_PROJECT
    + """governance:
  approvals: {{required: 1, four_eyes: true}}
# serving: {{auth: token}}   # inference, /metrics and model status need an API token
"""
)
