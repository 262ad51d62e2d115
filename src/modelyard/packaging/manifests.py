"""Kubernetes and KServe manifests for one endpoint, as plain dicts (rendered to YAML by the CLI).

The server is stateless: the store URL, S3 credentials and keys come from a Secret, the project
file from a ConfigMap; readiness and liveness use the Open Inference Protocol health routes
(open whatever ``serving.auth`` says, so probes need no token).

The container binds ``0.0.0.0`` (it must, to be reachable in the pod network), so the project
file's ``serving.auth`` decides who may call it: the Deployment and InferenceService carry it
as annotations, and ``exposure_note`` is what the CLI prints when it is ``none``.
"""

from __future__ import annotations

from typing import Any

from modelyard.core.kube_config import Workload
from modelyard.core.project import ProjectConfig, validate_name

APP_LABEL = "app.kubernetes.io/name"
AUTH_ANNOTATION = "modelyard.io/inference-auth"
METRICS_AUTH_ANNOTATION = "modelyard.io/metrics-auth"


def exposure_note(config: ProjectConfig, endpoint: str) -> str | None:
    """Said when generated artifacts serve an endpoint open on every interface."""
    if not config.serving.inference_open:
        return None
    return (
        f"the generated server for {endpoint!r} binds 0.0.0.0 with serving.auth: none: anyone "
        "who can reach the pod or service may predict, read model status and /metrics; set "
        "`serving: {auth: token}` in modelyard.yaml (probes stay open) or restrict traffic "
        "with a NetworkPolicy"
    )


def _auth_annotations(config: ProjectConfig) -> dict[str, str]:
    serving = config.serving
    return {
        AUTH_ANNOTATION: serving.auth,
        METRICS_AUTH_ANNOTATION: "none" if serving.metrics_open else "token",
    }


def _labels(endpoint: str) -> dict[str, str]:
    return {
        APP_LABEL: "modelyard",
        "app.kubernetes.io/instance": endpoint,
        "app.kubernetes.io/component": "inference-server",
        "app.kubernetes.io/managed-by": "modelyard",
    }


def _meta(name: str, w: Workload, endpoint: str) -> dict[str, Any]:
    return {"name": name, "namespace": w.namespace, "labels": _labels(endpoint)}


def _resources(w: Workload) -> dict[str, Any]:
    r = w.resources
    requests: dict[str, Any] = {"cpu": r.cpu, "memory": r.memory}
    limits: dict[str, Any] = {"memory": r.memory_limit or r.memory}
    if r.cpu_limit:
        limits["cpu"] = r.cpu_limit
    if r.gpu:
        requests["nvidia.com/gpu"] = r.gpu
        limits["nvidia.com/gpu"] = r.gpu
    return {"requests": requests, "limits": limits}


def _container(endpoint: str, w: Workload) -> dict[str, Any]:
    probe = {"httpGet": {"path": "/v2/health/ready", "port": "http"}, "periodSeconds": 5}
    return {
        "name": "server",
        "image": w.image,
        "imagePullPolicy": "IfNotPresent",
        "args": [
            "serve",
            "--endpoint",
            endpoint,
            "--host",
            "0.0.0.0",
            "--port",
            str(w.port),
            "--workers",
            str(w.workers),
        ],
        "ports": [{"name": "http", "containerPort": w.port, "protocol": "TCP"}],
        "envFrom": [{"secretRef": {"name": w.secret}}],
        "env": [{"name": "MODELYARD_PROJECT", "value": "/etc/modelyard"}],
        "volumeMounts": [{"name": "project", "mountPath": "/etc/modelyard", "readOnly": True}],
        "resources": _resources(w),
        "readinessProbe": {**probe, "initialDelaySeconds": 2, "failureThreshold": 3},
        "livenessProbe": {
            "httpGet": {"path": "/v2/health/live", "port": "http"},
            "periodSeconds": 10,
            "initialDelaySeconds": 10,
            "failureThreshold": 3,
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }


def kubernetes_manifests(
    config: ProjectConfig, endpoint: str, project_yaml: str
) -> list[dict[str, Any]]:
    validate_name(endpoint, "endpoint name")
    w = config.kubernetes.workload(endpoint)
    name = f"modelyard-{endpoint}".lower().replace("_", "-").replace(".", "-")[:63]
    selector = {APP_LABEL: "modelyard", "app.kubernetes.io/instance": endpoint}
    pod_spec: dict[str, Any] = {
        "containers": [_container(endpoint, w)],
        "volumes": [{"name": "project", "configMap": {"name": f"{name}-project"}}],
        "securityContext": {"runAsNonRoot": True, "fsGroup": 10001},
        "terminationGracePeriodSeconds": 30,
    }
    if w.service_account:
        pod_spec["serviceAccountName"] = w.service_account
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta(f"{name}-project", w, endpoint),
            "data": {"modelyard.yaml": project_yaml},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {**_meta(name, w, endpoint), "annotations": _auth_annotations(config)},
            "spec": {
                "replicas": w.autoscaling.min_replicas,
                "selector": {"matchLabels": selector},
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
                },
                "template": {"metadata": {"labels": _labels(endpoint)}, "spec": pod_spec},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(name, w, endpoint),
            "spec": {
                "selector": selector,
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
            },
        },
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": _meta(name, w, endpoint),
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "minReplicas": w.autoscaling.min_replicas,
                "maxReplicas": w.autoscaling.max_replicas,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {
                                "type": "Utilization",
                                "averageUtilization": w.autoscaling.target_cpu_percent,
                            },
                        },
                    }
                ],
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": _meta(name, w, endpoint),
            "spec": {"minAvailable": w.min_available, "selector": {"matchLabels": selector}},
        },
    ]


def kserve_inference_service(config: ProjectConfig, endpoint: str) -> dict[str, Any]:
    """A KServe InferenceService running the modelyard server as a custom V2 predictor."""
    validate_name(endpoint, "endpoint name")
    w = config.kubernetes.workload(endpoint)
    name = f"modelyard-{endpoint}".lower().replace("_", "-").replace(".", "-")[:63]
    container = _container(endpoint, w)
    container["name"] = "kserve-container"
    # KServe routes to the container port it is told about and probes it itself.
    container.pop("livenessProbe")
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            **_meta(name, w, endpoint),
            "annotations": {
                "serving.kserve.io/deploymentMode": "RawDeployment",
                **_auth_annotations(config),
            },
        },
        "spec": {
            "predictor": {
                "minReplicas": w.autoscaling.min_replicas,
                "maxReplicas": w.autoscaling.max_replicas,
                "scaleMetric": "cpu",
                "scaleTarget": w.autoscaling.target_cpu_percent,
                "containers": [container],
                "volumes": [{"name": "project", "configMap": {"name": f"{name}-project"}}],
            }
        },
    }
