"""Kubernetes deployment settings (project file ``kubernetes:``): image, resources, scaling."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Resources(_Strict):
    cpu: str = Field(default="1", description="CPU request, e.g. '500m' or '2'")
    memory: str = Field(default="1Gi", description="memory request, e.g. '512Mi'")
    cpu_limit: str | None = Field(default=None, description="CPU limit (default: none)")
    memory_limit: str | None = Field(default=None, description="memory limit (default: request)")
    gpu: int = Field(default=0, ge=0, le=16, description="nvidia.com/gpu per replica")


class Autoscaling(_Strict):
    min_replicas: int = Field(default=2, ge=1, description="never fewer replicas")
    max_replicas: int = Field(default=10, ge=1, description="never more replicas")
    target_cpu_percent: int = Field(default=70, ge=1, le=100, description="HPA CPU target")

    @model_validator(mode="after")
    def _ordered(self) -> Autoscaling:
        if self.max_replicas < self.min_replicas:
            raise ValueError("max_replicas must be at least min_replicas")
        return self


class Workload(_Strict):
    image: str = Field(default="modelyard:latest", description="container image to run")
    namespace: str = Field(default="default", description="Kubernetes namespace")
    port: int = Field(default=8080, ge=1, le=65535, description="container port")
    workers: int = Field(default=1, ge=1, le=64, description="server processes per replica")
    resources: Resources = Field(default_factory=Resources)
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    min_available: int = Field(default=1, ge=0, description="PodDisruptionBudget minAvailable")
    secret: str = Field(
        default="modelyard-store",
        description="Secret with MODELYARD_STORE_URL, AWS keys, MODELYARD_ENCRYPTION_KEY and "
        "MODELYARD_PII_SECRET",
    )
    service_account: str | None = Field(default=None, description="pod service account")


class KubernetesConfig(_Strict):
    defaults: Workload = Field(default_factory=Workload)
    endpoints: dict[str, Workload] = Field(
        default_factory=dict, description="per-endpoint settings (replace the defaults)"
    )

    def workload(self, endpoint: str) -> Workload:
        return self.endpoints.get(endpoint, self.defaults)
