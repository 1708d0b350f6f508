"""Deployment options of an endpoint (dynamic batching knobs, canary split) and the serving layer that
applies them: `DeployedServing` extends serving.Serving with per-endpoint batchers and canary routing.

Knobs (all optional on POST/PATCH /v1/endpoints):
  max_batch_size  rows per forward call (default 32; 0 or 1 disables batching)
  max_wait_ms     longest extra wait of the oldest queued request (default 2 ms)
  max_queue       requests waiting before 429 (default 256)
  canary          {"model_version_id": B, "percent": p}: p % of requests go to version B (null removes it)
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .batching import Batcher, BatcherStopped
from .deployment_schemas import DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_QUEUE, DEFAULT_MAX_WAIT_MS, DeploymentOptions
from .errors import ApiError
from .models import Base, Endpoint, ModelVersion
from .preparation import apply_features
from .repository import TenantRepo
from .serving import LoadedModel, Serving, check_finite_outputs, format_outputs

FORWARD_CHUNK = 256  # rows per kernel call inside one batched forward (bounds activation memory)


class EndpointOptions(Base):
    """Deployment options of one endpoint (migration 0002); NULL means the server default."""

    __tablename__ = "endpoint_options"
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"), primary_key=True)
    max_batch_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_wait_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_queue: Mapped[int | None] = mapped_column(Integer, nullable=True)
    canary_version_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    canary_percent: Mapped[float | None] = mapped_column(Float, nullable=True)


@dataclass(frozen=True)
class DeploymentConfig:
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    max_wait_ms: float = DEFAULT_MAX_WAIT_MS
    max_queue: int = DEFAULT_MAX_QUEUE
    canary_version_id: str | None = None
    canary_percent: float = 0.0

    @classmethod
    def of(cls, row: EndpointOptions | None) -> "DeploymentConfig":
        def pick(name: str, default):
            value = getattr(row, name, None)
            return default if value is None else value
        return cls(int(pick("max_batch_size", DEFAULT_MAX_BATCH_SIZE)), float(pick("max_wait_ms", DEFAULT_MAX_WAIT_MS)),
                   int(pick("max_queue", DEFAULT_MAX_QUEUE)), getattr(row, "canary_version_id", None),
                   float(pick("canary_percent", 0.0)))

    @property
    def batching(self) -> bool:
        return self.max_batch_size > 1


def _options_row(session, endpoint: Endpoint) -> EndpointOptions | None:
    return session.get(EndpointOptions, endpoint.id)


def apply_options(repo: TenantRepo, serving: Serving, endpoint: Endpoint, body: DeploymentOptions) -> None:
    """Store the options the client sent for `endpoint`; a canary version is loaded before it gets traffic."""
    sent = body.model_fields_set & {"max_batch_size", "max_wait_ms", "max_queue", "canary"}
    if not sent:
        return
    row = _options_row(repo.session, endpoint)
    if row is None:
        row = EndpointOptions(endpoint_id=endpoint.id)
        repo.session.add(row)
    for name in ("max_batch_size", "max_wait_ms", "max_queue"):
        if name in sent:
            setattr(row, name, getattr(body, name))
    if "canary" in sent:
        if body.canary is None:
            row.canary_version_id, row.canary_percent = None, None
        else:
            version = repo.get(ModelVersion, body.canary.model_version_id)  # 404 unless the tenant's own
            serving.get_model(version)
            row.canary_version_id, row.canary_percent = version.id, float(body.canary.percent)
    if row.canary_version_id:  # a new canary, or a new primary beside the old canary
        _check_canary_compatible(repo.get(ModelVersion, endpoint.model_version_id),
                                 repo.get(ModelVersion, row.canary_version_id))
    repo.session.flush()


def _check_canary_compatible(primary: ModelVersion, canary: ModelVersion) -> None:
    """422 unless both versions take the same inputs and answer the same kind of prediction: the same
    request goes to either, so a mismatch would fail (or change the answer's shape) for a share of them."""
    for key, what in (("input_shape", "inputs shaped"), ("task", "task")):
        mine, theirs = primary.signature.get(key), canary.signature.get(key)
        if mine != theirs:
            raise ApiError(422, f"canary version {canary.id!r} has {what} {theirs} but the endpoint's version "
                                f"{primary.id!r} has {what} {mine}; a canary must accept the same requests")


def options_out(endpoint: Endpoint) -> dict[str, Any]:
    """The endpoint's effective options (defaults filled in) for API answers."""
    from sqlalchemy.orm import object_session

    session = object_session(endpoint)
    cfg = DeploymentConfig.of(_options_row(session, endpoint) if session is not None else None)
    canary = ({"model_version_id": cfg.canary_version_id, "percent": cfg.canary_percent}
              if cfg.canary_version_id else None)
    return {"max_batch_size": cfg.max_batch_size, "max_wait_ms": cfg.max_wait_ms, "max_queue": cfg.max_queue,
            "canary": canary}


@dataclass
class RoutedModel(LoadedModel):
    """A loaded model as chosen for one request of one endpoint (shares the model and its lock)."""

    endpoint: tuple[str, str] = ("", "")
    config: DeploymentConfig = field(default_factory=DeploymentConfig)

    @classmethod
    def of(cls, loaded: LoadedModel, endpoint: tuple[str, str], config: DeploymentConfig) -> "RoutedModel":
        # By keyword: the lock passed positionally once landed in `nbytes`, so every request got a fresh
        # lock of its own and two forward passes could run on one model at once.
        return cls(loaded.version_id, loaded.model, loaded.signature, nbytes=loaded.nbytes, lock=loaded.lock,
                   tenant_id=loaded.tenant_id, flops_per_row=loaded.flops_per_row, endpoint=endpoint, config=config)


class DeployedServing(Serving):
    """Serving with per-endpoint deployment options: dynamic batching and canary traffic split."""

    def __init__(self, state, metrics=None, capacity: int = 32) -> None:
        super().__init__(state, capacity)
        self.metrics = metrics
        self._configs: dict[tuple[str, str], DeploymentConfig] = {}
        self._batchers: dict[tuple[str, str, str], tuple[DeploymentConfig, Batcher]] = {}
        self._batchers_lock = threading.Lock()
        self._rng = random.Random()

    # -- endpoint configuration ----------------------------------------------------------------------
    def point(self, tenant_id: str, name: str, version: ModelVersion) -> None:
        super().point(tenant_id, name, version)
        self._configs.pop((tenant_id, name), None)  # re-read from the database (new knobs, canary) on next use
        self._stop_batchers(tenant_id, name)

    def forget(self, tenant_id: str, name: str) -> None:
        super().forget(tenant_id, name)
        self._configs.pop((tenant_id, name), None)
        self._stop_batchers(tenant_id, name)

    def _stop_batchers(self, tenant_id: str, name: str) -> None:
        """The endpoint's batchers finish their queues and end; new ones start with the new settings."""
        with self._batchers_lock:
            for key in [k for k in self._batchers if k[:2] == (tenant_id, name)]:
                self._batchers.pop(key)[1].stop()

    def config(self, tenant_id: str, name: str) -> DeploymentConfig:
        cfg = self._configs.get((tenant_id, name))
        if cfg is None:
            with self.state.sessions() as session:
                endpoint = TenantRepo(session, tenant_id).endpoint_by_name(name)
                cfg = DeploymentConfig.of(_options_row(session, endpoint))
            self._configs[(tenant_id, name)] = cfg
        return cfg

    def _cached(self, version_id: str | None) -> LoadedModel | None:
        """The loaded model of a version already checked for this endpoint, without a database query."""
        if version_id is None:
            return None
        with self._cache_lock:
            hit = self._cache.get(version_id)
            if hit is not None:
                self._cache.move_to_end(version_id)
            return hit

    def resolve_cached(self, tenant_id: str, name: str) -> RoutedModel | None:
        """resolve() from memory only (no database, safe on the event loop), or None when it would need one."""
        cfg = self._configs.get((tenant_id, name))
        loaded = self._cached(self._routes.get((tenant_id, name)))
        if cfg is None or loaded is None:
            return None
        if cfg.canary_version_id and self._rng.random() * 100.0 < cfg.canary_percent:
            loaded = self._cached(cfg.canary_version_id)  # cfg came from a tenant-scoped query
            if loaded is None:
                return None
        return RoutedModel.of(loaded, (tenant_id, name), cfg)

    def resolve(self, tenant_id: str, name: str) -> RoutedModel:
        """The endpoint's model for this request: the canary version for `percent` % of requests."""
        cfg = self.config(tenant_id, name)
        # _routes only holds versions checked against the tenant (point() or a tenant-scoped query)
        loaded = self._cached(self._routes.get((tenant_id, name))) or super().resolve(tenant_id, name)
        if cfg.canary_version_id and self._rng.random() * 100.0 < cfg.canary_percent:
            loaded = self._cached(cfg.canary_version_id)  # cfg came from a tenant-scoped query
            if loaded is None:
                with self.state.sessions() as session:
                    version = TenantRepo(session, tenant_id).get(ModelVersion, cfg.canary_version_id)
                loaded = self.get_model(version)
        return RoutedModel.of(loaded, (tenant_id, name), cfg)

    def primary_id(self, tenant_id: str, name: str) -> str:
        """The version the endpoint points at (without the canary draw)."""
        return super().resolve(tenant_id, name).version_id

    def version_of(self, tenant_id: str, name: str, version_id: str) -> RoutedModel:
        """A specific version deployed on the endpoint (primary or canary), else 404."""
        cfg = self.config(tenant_id, name)
        primary = super().resolve(tenant_id, name)
        if version_id not in (primary.version_id, cfg.canary_version_id):
            raise ApiError(404, f"version {version_id!r} is not deployed on endpoint {name!r}")
        loaded = primary
        if version_id != primary.version_id:
            with self.state.sessions() as session:
                loaded = self.get_model(TenantRepo(session, tenant_id).get(ModelVersion, version_id))
        return RoutedModel.of(loaded, (tenant_id, name), cfg)

    # -- batching ------------------------------------------------------------------------------------
    def _batcher(self, loaded: LoadedModel) -> Batcher | None:
        if not isinstance(loaded, RoutedModel) or not loaded.config.batching:
            return None
        cfg = loaded.config
        key = (*loaded.endpoint, loaded.version_id)
        current = self._batchers.get(key)
        if current is not None and current[0] == cfg:
            return current[1]
        with self._batchers_lock:
            current = self._batchers.get(key)
            if current is not None and current[0] == cfg:
                return current[1]
            base = LoadedModel(loaded.version_id, loaded.model, loaded.signature, nbytes=loaded.nbytes,
                               lock=loaded.lock, tenant_id=loaded.tenant_id, flops_per_row=loaded.flops_per_row)
            tenant = loaded.tenant_id
            # The batcher only schedules: every forward pass runs on the compute pool, in the tenant's turn.
            batcher = Batcher(lambda x: self.pool.run(tenant, self._model_forward, base, x), cfg.max_batch_size,
                              cfg.max_wait_ms, cfg.max_queue, on_batch=self._on_batch,
                              name=f"batcher-{loaded.endpoint[1]}",
                              offload=lambda x, after=None: self.pool.submit_async(tenant, self._model_forward, base,
                                                                                    x, after=after))
            self._batchers[key] = (cfg, batcher)
        if current is not None:
            current[1].stop()  # knobs changed: the old worker drains its queue and ends
        return batcher

    def _on_batch(self, rows: int, requests: int) -> None:
        if self.metrics is not None:
            self.metrics.observe_forward(rows, requests)

    def _model_forward(self, loaded: LoadedModel, x: np.ndarray) -> np.ndarray:
        """One forward pass (on a compute-pool thread), in chunks that bound activation memory."""
        with loaded.lock:
            return loaded.model.predict(x, batch_size=min(len(x), FORWARD_CHUNK), verbose=0)

    def queue_depth(self) -> int:
        return sum(b.depth() for _, b in list(self._batchers.values()))

    def models_loaded(self) -> int:
        return len(self._cache)

    def predict(self, loaded: LoadedModel, instances: list[Any]) -> list[Any]:
        batcher = self._batcher(loaded)
        if batcher is None:
            return super().predict(loaded, instances)
        with batcher.arriving():  # the worker may wait for this request while it is being validated
            return super().predict(loaded, instances)

    async def predict_async(self, loaded: LoadedModel, instances: list[Any]) -> list[Any]:
        """predict() for async routes: checks, the compute bound and preprocessing on the event loop (cheap
        numpy, bounded by the value limit), then the forward pass on the compute pool, which the loop awaits
        without holding a thread: through the batcher, which joins the requests of one loop turn into one
        forward call (batching.Batcher.predict_async), or straight to the pool for an unbatched endpoint."""
        x = self.prepare_instances(loaded, instances)
        batcher = self._batcher(loaded)
        out = None
        if batcher is not None:
            try:
                out = await batcher.predict_async(x)
            except BatcherStopped:  # reconfigured between lookup and submit: answer without batching
                out = None
        if out is None:
            out = await self.pool.submit_async(loaded.tenant_id, self._forward_unbatched, loaded, x)
        return format_outputs(np.asarray(out, dtype=np.float64), loaded.signature)

    def _forward_unbatched(self, loaded: LoadedModel, x: np.ndarray) -> np.ndarray:
        out = self._model_forward(loaded, x)
        self._on_batch(len(x), 1)
        return out

    def forward(self, loaded: LoadedModel, x: np.ndarray) -> np.ndarray:
        batcher = self._batcher(loaded)
        if batcher is None:
            out = super().forward(loaded, x)
            self._on_batch(len(x), 1)
            return out
        try:
            return batcher.predict(x)
        except BatcherStopped:  # reconfigured between lookup and submit: answer without batching
            out = super().forward(loaded, x)
            self._on_batch(len(x), 1)
            return out

    # -- tensors (Open Inference Protocol, explanations) ---------------------------------------------
    def prepare_array(self, loaded: LoadedModel, x: np.ndarray) -> np.ndarray:
        """Raw inputs [n, *input_shape] -> float32 model inputs (checked, preprocessed); 422/413 otherwise."""
        shape = tuple(loaded.signature["input_shape"])
        if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape or len(x) == 0:
            raise ApiError(422, f"input has shape {list(x.shape)}; expected [n, {', '.join(map(str, shape))}] with n >= 1")
        limit = self.state.settings.max_predict_values
        if x.size > limit:
            raise ApiError(413, f"{x.size} input values exceed the limit of {limit} values per request")
        x = np.asarray(x, dtype=np.float32)
        if np.isinf(x).any():  # NaN may be a missing value the preprocessing imputes; infinity never is
            raise ApiError(422, "input contains infinite values")
        pre = loaded.signature.get("preprocessor")
        if pre is not None:
            try:
                x = apply_features(x, pre)
            except ValueError as exc:
                raise ApiError(422, f"input rejected by the model's preprocessing: {exc}") from exc
        return np.ascontiguousarray(x, dtype=np.float32)

    def predict_array(self, loaded: LoadedModel, x: np.ndarray) -> np.ndarray:
        """Model outputs [n, k] (float32) for raw inputs x [n, *input_shape], through the batcher when enabled."""
        batcher = self._batcher(loaded)
        if batcher is None:
            out = self.forward(loaded, self.prepare_array(loaded, x))
        else:
            with batcher.arriving():
                out = self.forward(loaded, self.prepare_array(loaded, x))
        return check_finite_outputs(np.asarray(out, dtype=np.float32))


def output_width(loaded: LoadedModel) -> int:
    """Number of output values per instance (from the signature; -1 when unknown)."""
    n = loaded.signature.get("n_outputs")
    return int(n) if isinstance(n, (int, float)) and not math.isnan(n) else -1
