"""Request and response bodies (pydantic). Unknown request fields are refused (422), not ignored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .deployment_schemas import DeploymentOptions, DeploymentOptionsOut

NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TenantCreate(Strict):
    name: str = Field(pattern=NAME, description="letters, digits, '.', '_', '-'; up to 100 characters")
    max_concurrent_jobs: int | None = Field(default=None, ge=1, le=1000)
    max_epochs: int | None = Field(default=None, ge=1, le=100_000)
    max_dataset_bytes: int | None = Field(default=None, ge=1)


class TenantOut(BaseModel):
    id: str
    name: str
    max_concurrent_jobs: int | None = None
    max_epochs: int | None = None
    max_dataset_bytes: int | None = None


class KeyCreate(Strict):
    role: str = Field(pattern="^(admin|member|predict)$", description="admin, member or predict")
    expires_at: datetime | None = None
    rate_limit_per_minute: int | None = Field(default=None, ge=1, le=1_000_000)


class KeyOut(BaseModel):
    id: str
    key: str = Field(description="the secret; shown only in this answer")
    role: str
    tenant_id: str
    expires_at: datetime | None = None


class ArchitectureOut(BaseModel):
    name: str
    description: str
    hyperparameters_schema: dict[str, Any]


class Hyperparameters(BaseModel):
    """Training settings; architecture-specific ones (units, layers, ...) go alongside these."""

    model_config = ConfigDict(extra="allow")
    epochs: int = Field(default=10, ge=1)
    batch_size: int = Field(default=32, ge=1, le=65536)
    learning_rate: float = Field(default=0.001, gt=0, le=10)
    optimizer: str = Field(default="adam", pattern="^(adam|sgd|rmsprop)$")
    validation_split: float = Field(default=0.0, ge=0, lt=1)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


class JobCreate(Strict):
    dataset_id: str
    architecture: str | dict[str, Any]
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)


class JobOut(BaseModel):
    id: str
    state: str
    dataset_id: str | None = None
    epoch: int = 0
    epochs: int = 0
    metrics: dict[str, Any] = Field(default_factory=dict)
    model_version_id: str | None = None
    error: str | None = None
    created_at: datetime | None = None


class EndpointCreate(DeploymentOptions):  # + batching knobs and canary (deployment_schemas.py)
    name: str = Field(pattern=NAME)
    model_version_id: str


class EndpointUpdate(DeploymentOptions):
    model_version_id: str | None = None  # None: keep the version, change only the options sent


class EndpointOut(DeploymentOptionsOut):
    name: str
    model_version_id: str
    created_at: datetime | None = None
    updated_at: datetime | None = None


class PredictRequest(Strict):
    instances: list[Any] = Field(min_length=1)


class EvaluateRequest(Strict):
    dataset_id: str
