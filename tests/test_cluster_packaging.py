"""Generated Kubernetes/KServe manifests validate against the real schemas (Kubernetes core/v1 via
``kubernetes_validate``, KServe's CRD via the models of its SDK wheel, extracted into
``tests/support/data``); build contexts run as non-root with a health check."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from modelyard.core.project import parse_project
from modelyard.packaging.buildctx import write_build_context
from modelyard.packaging.manifests import kserve_inference_service, kubernetes_manifests
from tests.support.kserve_schema import KServeSchema, KServeSchemaError, read_extract

PROJECT = """\
name: credit
kubernetes:
  defaults: {image: "registry.example/modelyard:1.0", namespace: ml}
  endpoints:
    arrests:
      image: "registry.example/modelyard:1.0"
      namespace: ml
      workers: 2
      resources: {cpu: "2", memory: 2Gi, cpu_limit: "4", gpu: 1}
      autoscaling: {min_replicas: 3, max_replicas: 12, target_cpu_percent: 60}
"""
K8S = "1.30.0"


@pytest.fixture(scope="session")
def kserve() -> KServeSchema:
    """KServe's v1beta1 schema, from the SDK wheel's models extracted into the repository."""
    return KServeSchema(read_extract(), K8S)


def test_manifests_validate_against_the_kubernetes_schemas() -> None:
    config = parse_project(PROJECT)
    docs = kubernetes_manifests(config, "arrests", PROJECT)
    assert [d["kind"] for d in docs] == [
        "ConfigMap",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    ]
    for doc in docs:
        kubernetes_validate.validate(doc, K8S, strict=True)
    deployment = docs[1]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["requests"] == {"cpu": "2", "memory": "2Gi", "nvidia.com/gpu": 1}
    assert container["resources"]["limits"]["cpu"] == "4"
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["envFrom"] == [{"secretRef": {"name": "modelyard-store"}}]
    assert docs[3]["spec"]["minReplicas"] == 3 and docs[3]["spec"]["maxReplicas"] == 12


def test_a_broken_manifest_would_be_caught_by_the_schema() -> None:
    doc = kubernetes_manifests(parse_project(PROJECT), "arrests", PROJECT)[2]
    doc["spec"]["ports"][0]["port"] = "eighty"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, K8S, strict=True)


def test_kserve_inference_service_uses_the_server_as_a_v2_predictor() -> None:
    isvc = kserve_inference_service(parse_project(PROJECT), "arrests")
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1" and isvc["kind"] == "InferenceService"
    pred = isvc["spec"]["predictor"]
    assert pred["containers"][0]["name"] == "kserve-container"
    assert "--endpoint" in pred["containers"][0]["args"]
    # the predictor's container is an ordinary core/v1 Container: check it against that schema
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "x"},
        "spec": {"containers": pred["containers"], "volumes": pred["volumes"]},
    }
    kubernetes_validate.validate(pod, K8S, strict=True)


def test_kserve_inference_service_validates_against_the_kserve_crd_schema(
    kserve: KServeSchema,
) -> None:
    isvc = kserve_inference_service(parse_project(PROJECT), "arrests")
    assert kserve.errors(isvc) == []
    # the fields we rely on are the CRD's own, not ones the validator lets through
    predictor = kserve.models["V1beta1PredictorSpec"].fields
    assert predictor["minReplicas"] == "int" and predictor["containers"] == "list[V1Container]"


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return mutate


def _drop_predictor(doc: dict[str, Any]) -> None:
    del doc["spec"]["predictor"]


BROKEN: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "unknown key under spec.predictor": (
        _set("spec.predictor.replicas", 3),
        "spec.predictor.replicas: unknown field of V1beta1PredictorSpec",
    ),
    "minReplicas as a word": (
        _set("spec.predictor.minReplicas", "two"),
        "spec.predictor.minReplicas: expected int, got str 'two'",
    ),
    "scaleTarget as a bool": (
        _set("spec.predictor.scaleTarget", True),
        "spec.predictor.scaleTarget: expected int, got bool",
    ),
    "non-string predictor label": (
        _set("spec.predictor.labels", {"team": 7}),
        "spec.predictor.labels['team']: expected str",
    ),
    "predictor missing": (_drop_predictor, "spec: missing required field 'predictor'"),
    "unknown key in the container": (
        _set("spec.predictor.containers.0.gpus", 1),
        "spec.predictor.containers[0]: Additional properties are not allowed ('gpus'",
    ),
    "container port as a name": (
        _set("spec.predictor.containers.0.ports.0.containerPort", "http"),
        "spec.predictor.containers[0].ports[0].containerPort: 'http' is not of type 'integer'",
    ),
    "volume without a name": (
        _set("spec.predictor.volumes.0", {"configMap": {"name": "x"}}),
        "spec.predictor.volumes[0]: 'name' is a required property",
    ),
    "unknown metadata field": (
        _set("metadata.label", {}),
        "metadata: Additional properties are not allowed ('label'",
    ),
    "wrong kind": (_set("kind", "InferenceServices"), "kind: expected 'InferenceService'"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_inference_service_is_rejected_naming_the_path(
    kserve: KServeSchema, case: str
) -> None:
    mutate, expected = BROKEN[case]
    isvc = kserve_inference_service(parse_project(PROJECT), "arrests")
    broken = copy.deepcopy(isvc)
    mutate(broken)
    errors = kserve.errors(broken)
    assert len(errors) == 1 and errors[0].startswith(expected), errors
    with pytest.raises(KServeSchemaError, match=re.escape(expected)):
        kserve.validate(broken)
    assert kserve.errors(isvc) == []


def test_build_context_is_non_root_pinned_and_health_checked(tmp_path: Path) -> None:
    ctx = write_build_context(tmp_path / "ctx", "arrests", PROJECT)
    dockerfile = (ctx.path / "Dockerfile").read_text()
    assert "USER 10001" in dockerfile and "HEALTHCHECK" in dockerfile
    assert "/v2/health/ready" in dockerfile
    pins = (ctx.path / "requirements.lock").read_text().splitlines()
    assert pins and all("==" in p for p in pins)
    assert any(p.lower().startswith("scikit-learn==") for p in pins)
    assert (ctx.path / "app" / "modelyard" / "cli" / "main.py").exists()
    assert not list((ctx.path / "app").rglob("__pycache__"))


def test_cli_writes_manifests_that_parse(tmp_path: Path) -> None:
    (tmp_path / "modelyard.yaml").write_text(PROJECT)
    exe = str(Path(sys.executable).with_name("modelyard"))
    out = subprocess.run(
        [exe, "k8s", "arrests", "--kserve", "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        check=True,
    )
    docs = list(yaml.safe_load_all(out.stdout))
    assert [d["kind"] for d in docs][-1] == "InferenceService"
    for doc in docs[:-1]:
        kubernetes_validate.validate(doc, K8S, strict=True)
    bad = subprocess.run(
        [exe, "k8s", "bad name", "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    assert bad.returncode == 2 and "invalid endpoint name" in bad.stderr
