"""Generated Kubernetes/KServe manifests validate against the real schemas; build contexts run
as non-root with a health check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from modelyard.core.project import parse_project
from modelyard.packaging.buildctx import write_build_context
from modelyard.packaging.manifests import kserve_inference_service, kubernetes_manifests

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
    bad = subprocess.run(
        [exe, "k8s", "bad name", "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    assert bad.returncode == 2 and "invalid endpoint name" in bad.stderr
