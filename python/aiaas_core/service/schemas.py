"""Request and response bodies (pydantic). Unknown request fields are refused (422), not ignored."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, NamedTuple

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .deployment_schemas import DeploymentOptions, DeploymentOptionsOut
from .json_types import DB_INT_MAX, INT32_MAX, Int, Number

NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"


class Page(NamedTuple):
    limit: int
    offset: int


def page(limit: int = Query(100, ge=1, le=1000, description="rows per page"),
         offset: int = Query(0, ge=0, le=DB_INT_MAX, description="rows to skip")) -> Page:
    """The pagination query parameters every list route takes (a dependency)."""
    return Page(limit, offset)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TenantCreate(Strict):
    name: str = Field(pattern=NAME, description="letters, digits, '.', '_', '-'; up to 100 characters")
    max_concurrent_jobs: Int | None = Field(default=None, ge=1, le=1000)
    max_epochs: Int | None = Field(default=None, ge=1, le=100_000)
    max_dataset_bytes: Int | None = Field(default=None, ge=1, le=INT32_MAX)


class TenantOut(BaseModel):
    id: str
    name: str
    max_concurrent_jobs: int | None = None
    max_epochs: int | None = None
    max_dataset_bytes: int | None = None


class KeyCreate(Strict):
    role: str = Field(pattern="^(admin|member|predict)$", description="admin, member or predict")
    expires_at: datetime | None = Field(default=None, description="ISO 8601; without a UTC offset it is read as UTC")
    rate_limit_per_minute: Int | None = Field(default=None, ge=1, le=1_000_000)

    @field_validator("expires_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        """Stored in UTC: 9999-12-31T23:59:59-14:00 is in the year 10000 there, which no datetime holds."""
        if value is None:
            return None
        try:
            return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
        except OverflowError:
            raise ValueError("expires_at falls after 9999-12-31 in UTC; give an earlier time") from None


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
    epochs: Int = Field(default=10, ge=1, le=INT32_MAX)
    batch_size: Int = Field(default=32, ge=1, le=65536)
    learning_rate: Number = Field(default=0.001, gt=0, le=10)
    optimizer: str = Field(default="adam", pattern="^(adam|sgd|rmsprop)$")
    validation_split: Number = Field(default=0.0, ge=0, lt=1)
    seed: Int = Field(default=0, ge=0, le=INT32_MAX)


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
