"""Request/response fields of endpoint deployment options (batching knobs, canary); see deployments.py."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .json_types import Int, Number

DEFAULT_MAX_BATCH_SIZE = 32
DEFAULT_MAX_WAIT_MS = 2.0
DEFAULT_MAX_QUEUE = 256


class CanaryOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model_version_id: str
    percent: Number = Field(ge=0, le=100, description="share of requests sent to this version, in percent")


class DeploymentOptions(BaseModel):
    """Request fields shared by endpoint create and update."""

    model_config = ConfigDict(extra="forbid")
    max_batch_size: Int | None = Field(default=None, ge=0, le=4096,
                                       description=f"rows per forward call; 0 or 1 disables batching (default {DEFAULT_MAX_BATCH_SIZE})")
    max_wait_ms: Number | None = Field(default=None, ge=0, le=10_000,
                                      description=f"longest extra wait for a batch to fill (default {DEFAULT_MAX_WAIT_MS} ms)")
    max_queue: Int | None = Field(default=None, ge=1, le=100_000,
                                  description=f"queued requests before 429 (default {DEFAULT_MAX_QUEUE})")
    canary: CanaryOptions | None = Field(default=None, description="send a share of traffic to another version; null removes it")


class DeploymentOptionsOut(BaseModel):
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    max_wait_ms: float = DEFAULT_MAX_WAIT_MS
    max_queue: int = DEFAULT_MAX_QUEUE
    canary: dict[str, Any] | None = None
